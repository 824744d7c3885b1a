"""The InpaintSuite docker: daemon status, engine and settings, operation buttons, progress with
preview, cancel. Every slot catches its own exceptions and shows them in the docker, because an
exception escaping a slot would open Krita's Python traceback dialog."""

import functools
import os
import sys
import time
import traceback
import weakref

from krita import DockWidget, Krita
from PyQt5.QtCore import QRegExp, Qt, QTimer
from PyQt5.QtGui import QImage, QPixmap, QRegExpValidator
from PyQt5.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGridLayout,
                             QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QProgressBar,
                             QPushButton, QSpinBox, QStackedWidget, QToolButton, QVBoxLayout,
                             QWidget)

from . import core, kritaops
from .bridge import BridgeClient

DOCKER_ID = "inpaint_suite_docker"
SETTINGS_GROUP = "inpaint_suite"
HEALTH_INTERVAL_MS = 10000
BUILTIN_ENGINES = ["auto", "content-aware", "fill"]

# Live dockers (one per main window), for the extension's actions.
DOCKERS = weakref.WeakSet()


def guarded(fn):
    """Slot decorator: any exception becomes an error line in the docker."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except core.BridgeError as e:
            self.show_error(str(e))
        except Exception as e:
            traceback.print_exc()
            self.show_error("%s: %s" % (type(e).__name__, e))
    return wrapper


def bridge_url():
    url = os.environ.get("INPAINTSUITE_BRIDGE_URL")
    if url:
        return url
    try:
        return Krita.instance().readSetting(SETTINGS_GROUP, "bridge_url", core.DEFAULT_BRIDGE_URL)
    except Exception:
        return core.DEFAULT_BRIDGE_URL


def bridge_token():
    """The daemon's auth token when it requires one: INPAINTSUITE_TOKEN, the plugin setting, or the token file."""
    try:
        setting = Krita.instance().readSetting(SETTINGS_GROUP, "token", "")
    except Exception:
        setting = ""
    return core.default_token(os.environ, os.path.expanduser("~"), sys.platform == "win32", setting)


def bridge_ca():
    """For an https:// daemon: INPAINTSUITE_TLS_CA, else the plugin setting "tls_ca" (a PEM file), else none."""
    ca = os.environ.get("INPAINTSUITE_TLS_CA")
    if ca:
        return ca
    try:
        return Krita.instance().readSetting(SETTINGS_GROUP, "tls_ca", "")
    except Exception:
        return ""


class InpaintSuiteDocker(DockWidget):
    def __init__(self):
        DockWidget.__init__(self)
        self.setWindowTitle("InpaintSuite")
        self.client = None
        self.job = None
        self.healthy = False
        self.smoke = None
        self._build_ui()
        self.connect_daemon()
        self.health_timer = QTimer(self)
        self.health_timer.timeout.connect(self.check_health)
        self.health_timer.start(HEALTH_INTERVAL_MS)
        DOCKERS.add(self)
        if os.environ.get("INPAINTSUITE_SMOKE_RESULT"):
            from .smoke import SmokeRun
            self.smoke = SmokeRun(self, os.environ["INPAINTSUITE_SMOKE_RESULT"])

    # -- UI -----------------------------------------------------------------------------------

    def _build_ui(self):
        root = QWidget(self)
        layout = QVBoxLayout(root)
        layout.setContentsMargins(4, 4, 4, 4)

        daemon_row = QHBoxLayout()
        self.status_dot = QLabel("\u25cf")
        self.status_label = QLabel("connecting...")
        self.url_edit = QLineEdit(bridge_url())
        self.url_edit.setToolTip("The daemon's JSON bridge (inpaintsuite serve --bridge-port)")
        self.url_edit.editingFinished.connect(self.connect_daemon)
        refresh = QToolButton()
        refresh.setText("\u21bb")
        refresh.setToolTip("Check the daemon and reload its models")
        refresh.clicked.connect(self.connect_daemon)
        daemon_row.addWidget(self.status_dot)
        daemon_row.addWidget(self.status_label, 1)
        daemon_row.addWidget(refresh)
        layout.addLayout(daemon_row)
        layout.addWidget(self.url_edit)

        form = QFormLayout()
        self.engine_combo = QComboBox()
        self.engine_combo.addItems(BUILTIN_ENGINES)
        self.engine_combo.setToolTip("auto = the best installed model, else content-aware fill")
        form.addRow("Engine", self.engine_combo)
        self.source_combo = QComboBox()
        self.source_combo.addItem("Active layer", "layer")
        self.source_combo.addItem("Merged image", "merged")
        form.addRow("Read", self.source_combo)
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setPlaceholderText("Prompt (optional)")
        self.prompt_edit.setFixedHeight(54)
        form.addRow("Prompt", self.prompt_edit)
        self.negative_edit = QLineEdit()
        self.negative_edit.setPlaceholderText("Negative prompt")
        form.addRow("Negative", self.negative_edit)
        self.strength_spin = QDoubleSpinBox()
        self.strength_spin.setRange(0.0, 1.0)
        self.strength_spin.setSingleStep(0.05)
        self.strength_spin.setSpecialValueText("default")
        form.addRow("Strength", self.strength_spin)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(0, 150)
        self.steps_spin.setSpecialValueText("default")
        form.addRow("Steps", self.steps_spin)
        self.scheduler_combo = QComboBox()
        self.scheduler_combo.addItem("model default", "")
        for name in core.SCHEDULERS:
            self.scheduler_combo.addItem(name, name)
        form.addRow("Scheduler", self.scheduler_combo)
        seed_row = QHBoxLayout()
        # A line edit, not a spin box: seeds are uint64 and the daemon's random ones use all 64 bits.
        self.seed_edit = QLineEdit("0")
        self.seed_edit.setValidator(QRegExpValidator(QRegExp("[0-9]{1,20}")))
        self.seed_random = QCheckBox("random")
        self.seed_random.setChecked(True)
        self.seed_random.toggled.connect(lambda on: self.seed_edit.setEnabled(not on))
        self.seed_edit.setEnabled(False)
        seed_row.addWidget(self.seed_edit, 1)
        seed_row.addWidget(self.seed_random)
        form.addRow("Seed", seed_row)
        self.feather_spin = QSpinBox()
        self.feather_spin.setRange(0, 256)
        self.feather_spin.setValue(4)
        self.feather_spin.setSuffix(" px")
        form.addRow("Feather", self.feather_spin)

        # Outpaint: aspect ratio or px per side.
        self.outpaint_mode = QComboBox()
        self.outpaint_mode.addItem("Aspect ratio", "aspect")
        self.outpaint_mode.addItem("Pixels per side", "extend")
        form.addRow("Outpaint", self.outpaint_mode)
        stack = QStackedWidget()
        aspect_w = QWidget()
        aspect_l = QHBoxLayout(aspect_w)
        aspect_l.setContentsMargins(0, 0, 0, 0)
        self.aspect_w = QSpinBox()
        self.aspect_w.setRange(1, 64)
        self.aspect_w.setValue(16)
        self.aspect_h = QSpinBox()
        self.aspect_h.setRange(1, 64)
        self.aspect_h.setValue(9)
        aspect_l.addWidget(self.aspect_w)
        aspect_l.addWidget(QLabel(":"))
        aspect_l.addWidget(self.aspect_h)
        stack.addWidget(aspect_w)
        extend_w = QWidget()
        extend_l = QGridLayout(extend_w)
        extend_l.setContentsMargins(0, 0, 0, 0)
        self.extend_spins = []
        for i, side in enumerate(("left", "top", "right", "bottom")):
            spin = QSpinBox()
            spin.setRange(0, 8192)
            spin.setSingleStep(64)
            spin.setValue(128 if side in ("left", "right") else 0)
            spin.setPrefix(side[0].upper() + " ")
            extend_l.addWidget(spin, i // 2, i % 2)
            self.extend_spins.append(spin)
        stack.addWidget(extend_w)
        self.outpaint_mode.currentIndexChanged.connect(stack.setCurrentIndex)
        form.addRow("", stack)
        layout.addLayout(form)

        buttons = QGridLayout()
        self.op_buttons = {}
        for i, (op, text, tip) in enumerate((
                ("inpaint", "Inpaint", "Fill the selection"),
                ("outpaint", "Outpaint", "Extend the canvas and fill the new area"),
                ("img2img", "Img2Img", "Re-generate the selection (or the whole layer)"),
                ("depth", "Depth", "Re-generate guided by depth (selection or whole layer)"))):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(functools.partial(self.start_operation, op))
            buttons.addWidget(b, i // 2, i % 2)
            self.op_buttons[op] = b
        layout.addLayout(buttons)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_job)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)
        self.job_label = QLabel("")
        self.job_label.setWordWrap(True)
        layout.addWidget(self.job_label)
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignCenter)
        self.preview.setMinimumHeight(96)
        layout.addWidget(self.preview)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d04040;")
        self.error_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        self.setWidget(root)

    def canvasChanged(self, canvas):
        pass

    def show_error(self, text):
        self.error_label.setText(text)
        if self.smoke is not None:
            self.smoke.note_error(text)

    def set_status(self, ok, text):
        self.healthy = ok
        self.status_dot.setStyleSheet("color: %s;" % ("#3a3" if ok else "#c33"))
        self.status_label.setText(text)
        self.status_label.setToolTip(self.client.base_url if self.client else "")

    # -- daemon -------------------------------------------------------------------------------

    @guarded
    def connect_daemon(self):
        url = self.url_edit.text().strip() or core.DEFAULT_BRIDGE_URL
        if self.client is None or self.client.base_url != url.rstrip("/"):
            self.client = BridgeClient(url, self, token=bridge_token(), ca_file=bridge_ca())
            try:
                Krita.instance().writeSetting(SETTINGS_GROUP, "bridge_url", url)
            except Exception:
                pass
        self.set_status(False, "connecting...")
        self.check_health(reload_models=True)

    @guarded
    def check_health(self, reload_models=False):
        client = self.client

        def done(obj, error):
            try:
                if client is not self.client:
                    return
                if error is not None:
                    self.set_status(False, "daemon unavailable")
                    self.status_label.setToolTip(str(error))
                    if self.smoke is not None:
                        self.smoke.health(None, str(error))
                    return
                status = str((obj or {}).get("status") or "SERVING")
                was_healthy = self.healthy
                self.set_status(status in ("SERVING", "OK", "ok", "healthy"), "daemon: " + status.lower())
                if self.smoke is not None:
                    self.smoke.health(obj, None)
                if reload_models or not was_healthy:
                    self.load_engines()
            except Exception as e:
                self.show_error("health: %s" % e)
        client.health(done)

    def load_engines(self):
        names = []

        def add(name, tip="", usable=True):
            if name in names:
                return
            names.append(name)
            current = self.engine_combo.currentText()
            if self.engine_combo.findText(name) < 0:
                self.engine_combo.addItem(name)
            idx = self.engine_combo.findText(name)
            self.engine_combo.setItemData(idx, tip, Qt.ToolTipRole)
            item = self.engine_combo.model().item(idx)
            if item is not None:
                item.setEnabled(usable)
            self.engine_combo.setCurrentText(current)

        def models_done(obj, error):
            try:
                if error is not None:
                    self.show_error("could not list models: %s" % error)
                    return
                for m in (obj or {}).get("models") or []:
                    if m.get("kind") == "depth-estimator":
                        continue
                    ops = ", ".join(m.get("operations") or [])
                    usable = bool(m.get("usable"))
                    add(str(m.get("name")), ops if usable else "not usable: %s" % m.get("reason", ""),
                        usable)
                if self.smoke is not None:
                    self.smoke.engines(self.engine_names())
            except Exception as e:
                self.show_error("models: %s" % e)

        def caps_done(obj, error):
            try:
                if error is None:
                    for name in (obj or {}).get("engines") or []:
                        add(str(name))
                    for name in (obj or {}).get("schedulers") or []:
                        if self.scheduler_combo.findData(str(name)) < 0:
                            self.scheduler_combo.addItem(str(name), str(name))
                    version = (obj or {}).get("version")
                    if version:
                        self.status_label.setText(self.status_label.text() + " " + str(version))
            except Exception as e:
                self.show_error("capabilities: %s" % e)
        for name in BUILTIN_ENGINES:
            add(name)
        self.client.models(models_done)
        self.client.capabilities(caps_done)

    def engine_names(self):
        return [self.engine_combo.itemText(i) for i in range(self.engine_combo.count())]

    # -- operations ---------------------------------------------------------------------------

    def options(self):
        engine = self.engine_combo.currentText()
        opts = kritaops.JobOptions(
            engine="" if engine == "auto" else engine,
            prompt=self.prompt_edit.toPlainText().strip(),
            negative_prompt=self.negative_edit.text().strip(),
            steps=self.steps_spin.value(),
            scheduler=self.scheduler_combo.currentData() or "",
            seed=None if self.seed_random.isChecked() else int(self.seed_edit.text() or 0),
            strength=self.strength_spin.value() or None,
            source=self.source_combo.currentData(),
            feather=float(self.feather_spin.value()))
        if self.outpaint_mode.currentData() == "aspect":
            opts.outpaint_aspect = (self.aspect_w.value(), self.aspect_h.value())
        else:
            opts.outpaint_extend = tuple(s.value() for s in self.extend_spins)
        return opts

    @guarded
    def start_operation(self, operation, *unused):
        if self.job is not None and not self.job.finished:
            raise core.BridgeError("a job is running; cancel it first")
        doc = Krita.instance().activeDocument()
        if doc is None:
            raise core.BridgeError("open a document first")
        self.error_label.setText("")
        self.preview.clear()
        self.progress.setValue(0)
        job = kritaops.KritaJob(self.client, doc, operation, self.options(),
                                self.on_progress, self.on_done)
        self.job = job
        self.job_started = time.time()
        try:
            job.start()
        except Exception:
            self.job = None
            raise
        self.set_busy(True)

    def set_busy(self, busy):
        for b in self.op_buttons.values():
            b.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    @guarded
    def cancel_job(self, *unused):
        if self.job is not None:
            self.job_label.setText("cancelling...")
            self.job.cancel()

    @guarded
    def on_progress(self, fraction, text, preview):
        if fraction is not None:
            self.progress.setValue(int(fraction * 1000))
        self.job_label.setText(text)
        if preview is not None:
            w, h, rgba = preview
            img = QImage(rgba, w, h, w * 4, QImage.Format_RGBA8888).copy()
            pix = QPixmap.fromImage(img)
            self.preview.setPixmap(pix.scaled(self.preview.width(), 160, Qt.KeepAspectRatio,
                                              Qt.SmoothTransformation))

    @guarded
    def on_done(self, nodes, error):
        self.set_busy(False)
        elapsed = time.time() - getattr(self, "job_started", time.time())
        if error is not None:
            self.progress.setValue(0)
            self.job_label.setText("")
            if error.status == "CANCELLED":
                self.job_label.setText("cancelled")
            else:
                self.show_error(str(error))
            if error.status == "UNAVAILABLE":
                self.set_status(False, "daemon unavailable")
        else:
            self.progress.setValue(1000)
            self.job_label.setText("%s in %.1f s" % (", ".join(n.name() for n in nodes), elapsed))
            # Show the seed used, so unticking "random" reproduces this result.
            if nodes and "seed " in nodes[0].name():
                try:
                    seed = int(nodes[0].name().rsplit("seed ", 1)[1].rstrip(")"))
                    self.seed_edit.setText(str(seed))
                except ValueError:
                    pass
        if self.smoke is not None:
            self.smoke.job_done(nodes, error)
