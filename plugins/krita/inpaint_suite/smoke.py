"""GUI smoke test hook, active only when INPAINTSUITE_SMOKE_RESULT names a file (set by
plugins/krita/tests/gui-smoke.sh). Records that the docker was created and reached the daemon,
then (with INPAINTSUITE_SMOKE_PHOTO) opens the photo in the window, selects a rectangle and presses
the docker's own Inpaint path, checks one undo removes the new layer (and redo brings it back), and
writes everything to the result file as JSON. The test script ends Krita itself."""

import json
import os

from krita import Krita, Selection
from PyQt5.QtCore import QTimer


class SmokeRun(object):
    def __init__(self, docker, path):
        self.docker = docker
        self.path = path
        self.state = {"docker_created": True, "health": None, "engines": [], "errors": [],
                      "done": False}
        self.started = False
        self.write()
        docker.setVisible(True)
        docker.raise_()

    def write(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1)
        os.replace(tmp, self.path)

    def note_error(self, text):
        self.state["errors"].append(text)
        self.write()

    def health(self, obj, error):
        self.state["health"] = obj if error is None else {"error": error}
        self.write()

    def engines(self, names):
        self.state["engines"] = names
        self.write()
        if not self.started:
            self.started = True
            QTimer.singleShot(1000, self.run_inpaint)

    def run_inpaint(self):
        try:
            photo = os.environ.get("INPAINTSUITE_SMOKE_PHOTO")
            if not photo:
                self.finish()
                return
            app = Krita.instance()
            doc = app.openDocument(photo)
            window = app.activeWindow()
            if window is None:
                raise RuntimeError("no main window")
            # No window manager under Xvfb to maximise: size the window to the screen, and float
            # the docker beside the canvas so the screenshot shows all of it.
            from PyQt5.QtWidgets import QApplication
            screen = QApplication.desktop().availableGeometry()
            window.qwindow().setGeometry(0, 0, screen.width() - 380, screen.height())
            self.docker.setFloating(True)
            self.docker.setGeometry(screen.width() - 370, 10, 360, screen.height() - 20)
            window.addView(doc)
            app.setActiveDocument(doc)
            sel = Selection()
            sel.select(140, 88, 72, 56, 255)
            doc.setSelection(sel)
            engine = os.environ.get("INPAINTSUITE_SMOKE_ENGINE", "content-aware")
            combo = self.docker.engine_combo
            if combo.findText(engine) >= 0:
                combo.setCurrentText(engine)
            # A fixed 64-bit seed typed into the docker must reach the daemon and name the layer.
            self.docker.seed_random.setChecked(False)
            self.docker.seed_edit.setText("12345678901234567")
            self.state["document"] = {"name": os.path.basename(photo), "depth": doc.colorDepth(),
                                      "layers_before": [n.name() for n in doc.topLevelNodes()]}
            self.doc = doc
            self.write()
            self.docker.start_operation("inpaint")
            if self.docker.job is None:
                self.finish()
        except Exception as e:
            self.note_error("smoke: %s" % e)
            self.finish()

    def job_done(self, nodes, error):
        self.state["inpaint"] = {"layer": nodes[0].name() if nodes else None,
                                 "error": str(error) if error else None,
                                 "layers_after": [n.name() for n in self.doc.topLevelNodes()],
                                 "status_text": self.docker.job_label.text()}
        self.write()
        if nodes:
            QTimer.singleShot(500, self.undo)
        else:
            self.finish()

    def layer_names(self):
        return [n.name() for n in self.doc.topLevelNodes()]

    def undo(self):
        try:
            Krita.instance().action("edit_undo").trigger()
            QTimer.singleShot(1000, self.after_undo)
        except Exception as e:
            self.note_error("undo: %s" % e)
            self.finish()

    def after_undo(self):
        self.state["layers_after_undo"] = self.layer_names()
        Krita.instance().action("edit_redo").trigger()
        QTimer.singleShot(1000, self.after_redo)

    def after_redo(self):
        self.state["layers_after_redo"] = self.layer_names()
        self.finish()

    def finish(self):
        self.state["done"] = True
        self.write()
