"""InpaintSuite for Krita: a docker (Settings > Dockers > InpaintSuite) and an action that send
the selection to the local InpaintSuite daemon and put the result on a new layer.

Importing the package registers the docker and the extension when Krita's GUI is there. The
pure-Python core (inpaint_suite.core) imports without Krita; INPAINTSUITE_NO_REGISTER=1 skips the
registration (the headless kritarunner test imports the package without a main window)."""

import os

try:
    from krita import DockWidgetFactory, DockWidgetFactoryBase, Krita
except ImportError:      # plain Python (unit tests): no Krita
    Krita = None

if Krita is not None and not os.environ.get("INPAINTSUITE_NO_REGISTER"):
    from .docker import DOCKER_ID, InpaintSuiteDocker
    from .extension import InpaintSuiteExtension

    _app = Krita.instance()
    _app.addDockWidgetFactory(DockWidgetFactory(DOCKER_ID, DockWidgetFactoryBase.DockRight,
                                                InpaintSuiteDocker))
    _app.addExtension(InpaintSuiteExtension(_app))
