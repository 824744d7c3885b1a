"""Asynchronous client of the daemon's JSON bridge on QNetworkAccessManager (no krita import).

Nothing here blocks: every call returns at once and reports through callbacks on the Qt event
loop. Job streams are NDJSON, decoded as the bytes arrive (readyRead), so progress and previews
show while the job runs.
"""

import json

from PyQt5.QtCore import QObject, QUrl, QByteArray
from PyQt5.QtNetwork import (QNetworkAccessManager, QNetworkReply, QNetworkRequest, QSslCertificate,
                             QSslConfiguration)

from . import core


def _status(reply):
    code = reply.attribute(QNetworkRequest.HttpStatusCodeAttribute)
    return int(code) if code is not None else 0


def _transport_error(reply, base_url):
    err = reply.error()
    if err in (QNetworkReply.ConnectionRefusedError, QNetworkReply.HostNotFoundError):
        return core.BridgeError("daemon not reachable at %s (is `inpaintsuite serve` running?)"
                                % base_url, status="UNAVAILABLE")
    if err == QNetworkReply.OperationCanceledError:
        return core.BridgeError("cancelled", status="CANCELLED")
    if err == QNetworkReply.SslHandshakeFailedError:
        return core.BridgeError("TLS to %s failed: %s (trust the daemon's CA or certificate: INPAINTSUITE_TLS_CA)"
                                % (base_url, reply.errorString()), status="UNAVAILABLE")
    return core.BridgeError("network error: %s" % reply.errorString(), status="UNAVAILABLE")


class JobStream(QObject):
    """One running operation: POST body, NDJSON JobEvents back.

    Callbacks: on_event(core.JobEvent) for every event, on_finished(result_dict_or_None, error)
    exactly once (error is a core.BridgeError or None)."""

    def __init__(self, client, path, body, on_event, on_finished):
        QObject.__init__(self, client)
        self.client = client
        self.job_id = ""
        self.result = None
        self._on_event = on_event
        self._on_finished = on_finished
        self._decoder = core.NdjsonDecoder()
        self._error_body = bytearray()
        self._error = None
        self._done = False
        self._cancel_requested = False
        req = client.request(path)
        req.setHeader(QNetworkRequest.ContentTypeHeader, "application/json")
        req.setRawHeader(b"Accept", b"application/x-ndjson")
        self.reply = client.nam.post(req, QByteArray(core.encode_json(body)))
        self.reply.metaDataChanged.connect(self._headers)
        self.reply.readyRead.connect(self._read)
        self.reply.finished.connect(self._finished)

    def cancel(self):
        """Asks the daemon to cancel (by job id once known) and drops the stream (which cancels too)."""
        self._cancel_requested = True
        if self.job_id:
            self.client.cancel(self.job_id)
        if not self._done:
            self.reply.abort()

    def _headers(self):
        # The bridge names the job in a header before the first event: cancel can use it at once.
        job_id = bytes(self.reply.rawHeader(b"x-job-id")).decode("ascii", "replace")
        if job_id and not self.job_id:
            self.job_id = job_id
            if self._cancel_requested:
                self.client.cancel(job_id)

    def _read(self):
        chunk = bytes(self.reply.readAll())
        status = _status(self.reply)
        if status and status != 200:
            self._error_body.extend(chunk)
            return
        if self._error is not None:
            return
        try:
            for obj in self._decoder.feed(chunk):
                self._dispatch(obj)
        except core.BridgeError as e:
            self._error = e
            self.reply.abort()

    def _dispatch(self, obj):
        ev = core.parse_event(obj)
        if ev.job_id and not self.job_id:
            self.job_id = ev.job_id
            if self._cancel_requested:
                self.client.cancel(self.job_id)
        if ev.kind == "error":
            self._error = ev.data["error"]
            return
        if ev.kind == "result":
            self.result = ev.data
        self._on_event(ev)

    def _finished(self):
        if self._done:
            return
        self._done = True
        # finished may arrive with unread bytes
        if self.reply.bytesAvailable():
            self._read()
        status = _status(self.reply)
        error = self._error
        if error is None and self._cancel_requested:
            error = core.BridgeError("cancelled", status="CANCELLED")
        if error is None and status and status != 200:
            error = core.error_message(bytes(self._error_body), status)
        if error is None and self.reply.error() != QNetworkReply.NoError:
            error = _transport_error(self.reply, self.client.base_url)
        if error is None:
            try:
                for obj in self._decoder.finish():
                    self._dispatch(obj)
            except core.BridgeError as e:
                error = e
            error = error or self._error
        if error is None and self.result is None:
            error = core.BridgeError("the daemon ended the job without a result")
        self.reply.deleteLater()
        self._on_finished(None if error else self.result, error)


class BridgeClient(QObject):
    """Talks to one daemon. base_url like http://127.0.0.1:50152."""

    def __init__(self, base_url=core.DEFAULT_BRIDGE_URL, parent=None, token="", ca_file=""):
        """ca_file: for an https:// daemon, a PEM file with its CA or its own certificate (else the system store)."""
        QObject.__init__(self, parent)
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.nam = QNetworkAccessManager(self)
        self.ssl = None
        if ca_file:
            certs = QSslCertificate.fromPath(ca_file)
            if not certs:
                raise core.BridgeError("no certificate could be read from %s" % ca_file, status="INVALID_ARGUMENT")
            self.ssl = QSslConfiguration.defaultConfiguration()
            self.ssl.setCaCertificates(certs)

    def request(self, path):
        req = QNetworkRequest(QUrl(self.base_url + path))
        # Plain HTTP/1.1 keeps NDJSON flowing line by line through the bridge.
        req.setAttribute(QNetworkRequest.HTTP2AllowedAttribute, False)
        if self.token:
            req.setRawHeader(b"Authorization", b"Bearer " + self.token.encode("utf-8"))
        if self.ssl is not None:
            req.setSslConfiguration(self.ssl)
        return req

    def get_json(self, path, on_done):
        """GET path; on_done(obj, error) once."""
        reply = self.nam.get(self.request(path))
        return self._json_reply(reply, on_done)

    def post_json(self, path, body, on_done):
        req = self.request(path)
        req.setHeader(QNetworkRequest.ContentTypeHeader, "application/json")
        reply = self.nam.post(req, QByteArray(core.encode_json(body)))
        return self._json_reply(reply, on_done)

    def _json_reply(self, reply, on_done):
        def finished():
            body = bytes(reply.readAll())
            status = _status(reply)
            obj, error = None, None
            if status and status != 200:
                error = core.error_message(body, status)
            elif reply.error() != QNetworkReply.NoError:
                error = _transport_error(reply, self.base_url)
            else:
                try:
                    obj = json.loads(body.decode("utf-8")) if body.strip() else {}
                except ValueError:
                    error = core.BridgeError("the daemon answered %s with invalid JSON"
                                             % reply.url().path())
            reply.deleteLater()
            on_done(obj, error)
        reply.finished.connect(finished)
        return reply

    def health(self, on_done):
        return self.get_json("/v1/health", on_done)

    def models(self, on_done):
        return self.get_json("/v1/models", on_done)

    def capabilities(self, on_done):
        return self.get_json("/v1/capabilities", on_done)

    def cancel(self, job_id, on_done=None):
        return self.post_json("/v1/cancel", {"jobId": job_id},
                              on_done or (lambda obj, err: None))

    def start_job(self, operation, body, on_event, on_finished):
        path = core.OPERATIONS[operation][0]
        return JobStream(self, path, body, on_event, on_finished)
