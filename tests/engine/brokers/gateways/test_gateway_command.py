"""`nanobook gateway binance` as a subprocess: it serves the working directory's venue on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]


def test_gateway_command_serves_and_stops_on_interrupt(tmp_path: Path) -> None:
    code = ("import sys; from typer.main import get_command; from nanobook_cli.commands.gateway import app; "
            "sys.exit(get_command(app).main(['binance', '--port', '0'], standalone_mode=False))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANOBOOK_")}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**env, "NO_COLOR": "1",
                                                                   "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        port = int(base.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/api/v3/exchangeInfo?symbol=AAPLUSDT")
        info = json.loads(conn.getresponse().read())
        conn.close()
        assert info["symbols"][0]["quoteAsset"] == "USDT"
        assert (tmp_path / ".nanobook" / "sim.db").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert "NANOBOOK_BINANCE_API_SECRET=nanobook-gateway-secret" in stderr
