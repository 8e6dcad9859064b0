"""`python -m api`: serve the API with uvicorn on IPM_HOST:IPM_PORT."""

import uvicorn

from kernel.settings import get_settings


def main() -> None:
    settings = get_settings()
    print(f"IP Pledge Market on http://{settings.host}:{settings.port}  docs: http://{settings.host}:{settings.port}/docs")
    uvicorn.run("api.app:create_app", factory=True, host=settings.host, port=settings.port,
                log_level=settings.log_level.lower())


if __name__ == "__main__":
    main()
