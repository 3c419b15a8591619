"""The app's tabs, one module each: a class that holds the tab's event functions and lays the tab out.

    explore   ExploreTab   does a layer rotate with its input, and how?
    restore   RestoreTab   the arms on one degraded image, and on its rotated copy
    train     TrainTab     a short, capped run with live curves
    learn     LearnTab     the group basics in three pictures
    common    what they share: column widths, readable errors, native charts

Every tab is ``Tab(app)``: its event functions are attributes whose parameter names are the API's
(call them directly, without a server, as the tests do), and ``tab.build(session)`` lays the tab out
inside the current ``gr.Tabs`` and wires its events. ``eqlab.app.ui.build_app`` assembles them.
"""

from eqlab.app.tabs.explore import ExploreTab
from eqlab.app.tabs.learn import LearnTab
from eqlab.app.tabs.restore import RestoreTab
from eqlab.app.tabs.train import TrainTab

__all__ = ["ExploreTab", "RestoreTab", "TrainTab", "LearnTab"]
