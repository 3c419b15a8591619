"""The eqlab Gradio app: `python demos/app.py [--port 7860] [--models random]`, the same as `eqlab demo`."""

if __name__ == "__main__":  # guarded: nothing may run when another process imports this file
    from eqlab.app import main

    raise SystemExit(main())
