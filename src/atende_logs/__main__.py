from atende_logs.cli.main import app

app(prog_name="atende-logs")
