"""The eqlab Gradio app: `python demos/app.py [--port 7860] [--models random]`, the same as `eqlab demo`."""
from eqlab.app import main
raise SystemExit(main())
