"""The Qt adapter and ``examples/qt_dashboard.py``, in real Qt widgets on the offscreen platform
(pytest-qt): a submit from another client must reach the XP label through the GUI thread's
event loop, with every callback run on the GUI thread; a screenshot of the window is taken."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gamify_client import GamifyClient
from gamify_client.testing import DemoData, GamifyBackend

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WAIT_MS = 10_000
"""How long a test waits for the window to show something."""

# Debian packages of the shared libraries that PySide6's QtGui and offscreen platform load.
SYSTEM_PACKAGES = {
    "libEGL": "libegl1",
    "libGL": "libgl1",
    "libOpenGL": "libopengl0",
    "libxkbcommon": "libxkbcommon0",
    "libfontconfig": "libfontconfig1",
    "libfreetype": "libfreetype6",
    "libdbus": "libdbus-1-3",
    "libglib": "libglib2.0-0",
    "libX11": "libx11-6",
}


def _import_qt_widgets() -> None:
    """Import QtWidgets; skip, naming the Debian package, when a system library is missing
    (PySide6 itself is a Python dependency of the ``dev`` extra: its absence fails)."""
    try:
        import PySide6.QtWidgets  # noqa: F401
    except ImportError as error:
        message = str(error)
        if "PySide6" in message and ".so" not in message:
            raise
        missing = next((pkg for lib, pkg in SYSTEM_PACKAGES.items() if lib in message), None)
        hint = f" (Debian: apt-get install {missing})" if missing else ""
        pytest.skip(f"Qt cannot load a system library: {message}{hint}", allow_module_level=True)


_import_qt_widgets()

from PySide6.QtCore import Qt, QThread  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel  # noqa: E402

from gamify_client.toolkits.qt import QtDispatcher, QueryTableModel, attach, bind  # noqa: E402


@pytest.fixture
def served() -> Iterator[tuple[str, GamifyBackend, DemoData]]:
    """A seeded reference backend on a loopback port."""
    backend = GamifyBackend()
    demo = backend.seed_demo()
    with backend.serve() as base_url:
        yield base_url, backend, demo
    backend.close()


@pytest.fixture(scope="module")
def qt_dashboard() -> ModuleType:
    """examples/qt_dashboard.py, imported (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("qt_dashboard", EXAMPLES / "qt_dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def submit(base_url: str, backend: GamifyBackend, user_id: str, task_id: str) -> None:
    """A submission through a client that shares nothing with the window's."""
    with GamifyClient(base_url=base_url, token=backend.token_for(user_id)) as other:
        other.tasks.submit(task_id, user_id=user_id, submission_type="Link", value="https://x.io")


def on_gui_thread() -> bool:
    app = QApplication.instance()
    assert app is not None
    return QThread.currentThread() is app.thread()


def test_a_submit_from_another_client_changes_the_xp_label_on_the_gui_thread(
    qtbot: Any,
    qt_dashboard: ModuleType,
    served: tuple[str, GamifyBackend, DemoData],
    tmp_path: Path,
) -> None:
    base_url, backend, demo = served
    learner = demo.users[0]
    with GamifyClient(base_url=base_url, token=backend.token_for(learner.id)) as client:
        dispatcher = attach(client)
        assert client.dispatch is dispatcher
        assert client.listen().mode == "push"
        callbacks_on_gui_thread: list[bool] = []
        window = qt_dashboard.DashboardWindow(client, batch_id=demo.batch_id)
        qtbot.addWidget(window)
        window.dashboard.subscribe(lambda _q: callbacks_on_gui_thread.append(on_gui_thread()))
        window.show()
        qtbot.waitUntil(lambda: window.xp_label.text() == "0", timeout=WAIT_MS)
        assert window.title_label.text() == "Uma User"
        assert window.students is not None
        qtbot.waitUntil(lambda: window.students.rowCount() == 3, timeout=WAIT_MS)

        submit(base_url, backend, learner.id, demo.task_ids[0])

        qtbot.waitUntil(lambda: window.xp_label.text() == "100", timeout=WAIT_MS)
        assert window.describe() == "XP 100 | streak 1 day | completion 25%"
        assert callbacks_on_gui_thread
        assert all(callbacks_on_gui_thread)
        assert window.batches.cell(0, 1) == "1/4"
        assert [window.tasks.cell(0, c) for c in range(3)] == ["Landing page", "Easy", "Done"]
        # The XP earned per task and the admin's view come with the refetch after the write.
        qtbot.waitUntil(lambda: window.tasks.cell(0, 3) == "100", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: window.students.cell(0, 2) == "100", timeout=WAIT_MS)
        assert window.students.cell(0, 0) == "Uma User"
        assert window.windowTitle() == "Gamify - Uma User"

        image = tmp_path / "qt_dashboard.png"
        assert window.grab().save(str(image))
        assert image.read_bytes().startswith(b"\x89PNG")

        window.close()
        assert window.dashboard.closed
        assert window.tasks.query.closed


def test_the_dispatcher_queues_callbacks_from_any_thread_onto_the_gui_thread(qtbot: Any) -> None:
    dispatchers = [QtDispatcher()]
    made_elsewhere = threading.Thread(target=lambda: dispatchers.append(QtDispatcher()))
    made_elsewhere.start()
    made_elsewhere.join()
    ran_on_gui_thread: list[bool] = []

    def record() -> None:
        ran_on_gui_thread.append(on_gui_thread())

    for dispatcher in dispatchers:
        worker = threading.Thread(target=dispatcher, args=(record,))
        worker.start()
        worker.join()
        dispatcher(record)
    assert ran_on_gui_thread == []  # queued, even from the GUI thread: never re-entrant
    qtbot.waitUntil(lambda: len(ran_on_gui_thread) == 4, timeout=WAIT_MS)
    assert ran_on_gui_thread == [True] * 4


def test_a_bound_widget_and_a_table_model_close_their_queries_when_destroyed(
    qtbot: Any, served: tuple[str, GamifyBackend, DemoData]
) -> None:
    base_url, backend, demo = served
    with GamifyClient(base_url=base_url, token=backend.token_for(demo.users[0].id)) as client:
        attach(client, track_focus=False)
        label = QLabel()
        qtbot.addWidget(label)
        tasks = bind(
            client.use_tasks_data(), label, lambda q: label.setText(str(len(q.data or [])))
        )
        model = QueryTableModel(client.use_tasks_data(), list, [("Task", lambda t: t.name)])
        qtbot.waitUntil(lambda: label.text() == "4", timeout=WAIT_MS)
        assert model.rowCount() == 4
        assert model.headerData(0, Qt.Orientation.Horizontal, 0) == "Task"

        label.deleteLater()
        qtbot.waitUntil(lambda: tasks.closed, timeout=WAIT_MS)
        model.deleteLater()
        qtbot.waitUntil(lambda: model.query.closed, timeout=WAIT_MS)


def test_attach_tells_the_client_when_the_application_gains_and_loses_focus(qtbot: Any) -> None:
    with GamifyClient(base_url="http://gamify.test", token="t") as client:
        attach(client)
        app = QApplication.instance()
        assert app is not None
        app.applicationStateChanged.emit(Qt.ApplicationState.ApplicationInactive)
        assert not client.focus.focused
        app.applicationStateChanged.emit(Qt.ApplicationState.ApplicationActive)
        assert client.focus.focused


def test_the_example_runs_on_its_reference_backend_with_simulated_activity() -> None:
    command = [sys.executable, str(EXAMPLES / "qt_dashboard.py")]
    result = subprocess.run(
        # A wide margin after the simulated write, so a loaded machine still shows it.
        [*command, "--simulate-after", "0.2", "--exit-after", "6"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Reference backend on http://127.0.0.1:")
    assert "Other clients' writes arrive by server push." in lines
    shown = [line for line in lines if line.startswith("Window shows:")]
    assert shown == [
        "Window shows: XP 0 | streak 0 days | completion 0%",
        "Window shows: XP 100 | streak 1 day | completion 25%",
    ], lines
    assert "Another client submitted a task: +100 XP." in lines
