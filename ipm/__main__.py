from ipm.cli import app

app()
