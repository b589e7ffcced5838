"""Fault injection: rate limits (429 with Retry-After), server errors, ok:false answers, outages."""

from __future__ import annotations

from .protocol import JsonDict, Reply, json_reply
from .records import Fault
from .workspace import Workspace

_FAULT_ERRORS = {
    429: "ratelimited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "request_timeout",
}


class FaultInjection(Workspace):
    """Arming faults for the next calls, and the answers faulted calls get."""

    def inject_fault(
        self,
        method: str | None = None,
        *,
        status: int = 429,
        retry_after: int = 1,
        error: str | None = None,
        times: int = 1,
        apply_then_fail: bool = False,
    ) -> None:
        """Fail the next ``times`` calls to ``method`` (None: any) without side effects.

        HTTP ``status`` (429 with ``Retry-After``), or HTTP 200 ``{"ok": false}`` with ``error``.
        With ``apply_then_fail`` the call takes effect and only its answer is an error: a
        response lost on the way back, as after a timeout.
        """
        with self._lock:
            self._faults.append(
                Fault(method, status, retry_after, error, max(1, times), apply_then_fail)
            )

    def clear_faults(self) -> None:
        """Drop every pending injected fault."""
        with self._lock:
            self._faults.clear()

    def set_down(self, down: bool = True) -> None:
        """Simulate an outage: every request answers HTTP 503 until set_down(False)."""
        with self._lock:
            self._down = down

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.method is None or fault.method == method:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_reply(self, fault: Fault | None) -> tuple[Reply, JsonDict]:
        if fault is None:  # the whole service is down
            payload = {"ok": False, "error": "service_unavailable"}
            return json_reply(503, payload), payload
        if fault.error is not None:
            payload = {"ok": False, "error": fault.error}
            return json_reply(200, payload), payload
        payload = {"ok": False, "error": _FAULT_ERRORS.get(fault.status, "fatal_error")}
        headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
        return json_reply(fault.status, payload, headers), payload
