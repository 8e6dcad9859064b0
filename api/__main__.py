"""`python -m api`: serve the API with uvicorn on IPM_HOST:IPM_PORT.

Ctrl+C and SIGTERM stop the server gracefully and exit 0 without a traceback: uvicorn finishes open
requests and the lifespan, then re-raises the signal it caught; ``_stopped`` takes it quietly (raising
there would unwind through the event loop), and ``main`` returns. A second Ctrl+C (``uv run`` passes
the terminal's on as well) is ignored once the server has stopped.
"""

import signal
import sys
from types import FrameType

import uvicorn

from kernel.settings import get_settings


def _stopped(signum: int, frame: FrameType | None) -> None:
    """Outside uvicorn's run (start-up, after shutdown) a signal just ends the process cleanly."""
    if not _serving:
        sys.exit(0)


_serving = False


def main() -> None:
    global _serving
    settings = get_settings()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stopped)
    print(f"IP Pledge Market on http://{settings.host}:{settings.port}  docs: http://{settings.host}:{settings.port}/docs")
    _serving = True
    try:
        uvicorn.run("api.app:create_app", factory=True, host=settings.host, port=settings.port,
                    log_level=settings.log_level.lower())
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


if __name__ == "__main__":
    main()
