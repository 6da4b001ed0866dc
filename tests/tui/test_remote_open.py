"""``irpa-tui URL``: a remote file opens like a local one (its header only)."""

import shutil

from irpa_tui.app import _title
from irpa_tui.screens.browse import BrowseScreen
from tests.httpserver import TestServer
from tests.tui.helpers import running, sync


def test_url_titles() -> None:
    assert _title(["https://h/dir/model.gguf?download=true"]) == "model.gguf"
    assert _title(["hf://org/repo@v1/sub/m.safetensors", "hf://org/repo"]) == "m.safetensors, repo"
    assert _title(["scope=/x/y.irpa"]) == "y.irpa"


@sync
async def test_a_url_opens_in_the_browser(demo_path, http_server: TestServer):
    shutil.copy(demo_path, http_server.root / "demo.irpa")
    url = f"{http_server.url}/demo.irpa"
    async with running(url) as pilot:
        app = pilot.app
        assert isinstance(app.screen, BrowseScreen)
        assert len(app.screen.session.archive) == 41 and app.screen.title_text == "demo.irpa"
        assert app.screen.session.archive.files[0].path == url
