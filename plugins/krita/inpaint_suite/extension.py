"""Menu actions (Tools > Scripts) that drive the docker of the current window, so the operations
can get keyboard shortcuts."""

from krita import Extension

from .docker import DOCKERS


class InpaintSuiteExtension(Extension):
    ACTIONS = (("inpaint", "InpaintSuite: Inpaint Selection"),
               ("outpaint", "InpaintSuite: Outpaint"),
               ("img2img", "InpaintSuite: Img2Img"),
               ("depth", "InpaintSuite: Depth to Image"))

    def __init__(self, parent):
        Extension.__init__(self, parent)

    def setup(self):
        pass

    def createActions(self, window):
        for op, text in self.ACTIONS:
            action = window.createAction("inpaint_suite_" + op, text, "tools/scripts")
            action.triggered.connect(lambda checked=False, op=op: self.run(op))

    @staticmethod
    def run(operation):
        dockers = [d for d in DOCKERS if d.isVisible()] or list(DOCKERS)
        if dockers:
            dockers[0].start_operation(operation)
