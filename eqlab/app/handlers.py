"""The app's event functions in one namespace, as the page wires them and the API names them.

What is here: ``make_handlers(app)``, the functions of every tab (``eqlab.app.tabs``) bound to one
``App``, each turned readable (a bad input becomes a ``gr.Error`` that says what was wrong), by the
name of its API endpoint or event: ``explore_ui``, ``explore_panel``, ``restore``, ``train``,
``learn_grid``, ... Tests and scripts call them without a server.

What is not here: the tabs themselves (``eqlab.app.tabs``), the layout (each tab's ``build``).
"""

from types import SimpleNamespace

from eqlab.app.tabs import ExploreTab, LearnTab, RestoreTab, TrainTab
from eqlab.app.tabs.common import chart, readable
from eqlab.app.tabs.explore import ENDPOINTS, EXPLORE_UI
from eqlab.app.tabs.learn import EVENTS as LEARN_EVENTS
from eqlab.app.tabs.restore import EVENTS as RESTORE_EVENTS
from eqlab.app.tabs.restore import TABLE_COLUMNS, table_df
from eqlab.app.tabs.train import EVENTS as TRAIN_EVENTS

__all__ = ["make_handlers", "readable", "chart", "table_df", "TABLE_COLUMNS", "EXPLORE_UI"]


def make_handlers(app) -> SimpleNamespace:
    """The event functions of the app, bound to ``app``; per-user state stays in each call's ``session``."""
    tabs = ((ExploreTab(app), (*ENDPOINTS, "explore_charts")), (RestoreTab(app), RESTORE_EVENTS),
            (TrainTab(app), TRAIN_EVENTS), (LearnTab(app), LEARN_EVENTS))
    return SimpleNamespace(**{name: readable(getattr(tab, name)) for tab, names in tabs for name in names})
