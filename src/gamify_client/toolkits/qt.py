"""Live queries in a Qt (PySide6) application: callbacks on the GUI thread, queries that drive
widgets and item models.

The blocking client's queries call back on its threads (the scheduler, the push listener). Qt
wants widgets touched on the GUI thread only, and its own way to get there is a queued signal:
:class:`QtDispatcher` is a ``QObject`` on the GUI thread whose signal, connected with
``Qt.QueuedConnection``, carries each callback into the GUI thread's event loop. Set it once
per client with :func:`attach`; every query the client makes then calls back on the GUI thread.

    app = QApplication(sys.argv)
    client = GamifyClient(base_url=..., token=...)
    attach(client)                                  # dispatch + focus, once per client
    dashboard = client.use_dashboard_data()
    bind(dashboard, xp_label, lambda q: xp_label.setText(str(q.data.overall_stats.user_total_xp)))

Needs the ``qt`` extra (``pip install gamify-client[qt]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QGuiApplication

from ..client import GamifyClient
from ..hooks import Query

__all__ = ["Column", "QtDispatcher", "QueryTableModel", "attach", "bind"]

T = TypeVar("T")

Column = tuple[str, Callable[[Any], object]]
"""A table column: its header and the function that gives a row's cell."""


class QtDispatcher(QObject):
    """A ``dispatch`` that runs each callback on the GUI thread, through a queued signal.

    It is moved to the application's thread when it is made elsewhere, so it may be created on
    any thread once the ``QApplication`` exists. Every callback is queued, even one dispatched
    from the GUI thread itself (a write made there): it runs when control returns to the event
    loop, never in the middle of the code that made the change.
    """

    _deliver = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("create the QApplication before the QtDispatcher")
        super().__init__(parent)
        if parent is None and self.thread() is not app.thread():
            self.moveToThread(app.thread())
        self._deliver.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def __call__(self, callback: Callable[[], None]) -> None:
        self._deliver.emit(callback)

    @Slot(object)
    def _run(self, callback: Callable[[], None]) -> None:
        callback()


def attach(client: GamifyClient, *, track_focus: bool = True) -> QtDispatcher:
    """Make ``client``'s queries call back on the GUI thread (its default ``dispatch``), and,
    with ``track_focus``, tell it when the application gains or loses focus
    (``QGuiApplication.applicationStateChanged``). Returns the dispatcher, which the client
    keeps. Call it on the GUI thread, after the ``QApplication`` is made."""
    dispatcher = QtDispatcher()
    client.dispatch = dispatcher
    app = QCoreApplication.instance()
    if track_focus and isinstance(app, QGuiApplication):

        def state_changed(state: Qt.ApplicationState) -> None:
            client.set_focused(state == Qt.ApplicationState.ApplicationActive)

        app.applicationStateChanged.connect(state_changed)
    return dispatcher


def bind(query: Query[T], owner: QObject, paint: Callable[[Query[T]], object]) -> Query[T]:
    """Paint ``owner`` (a widget) from ``query`` now and after every change, and close the query
    when ``owner`` is destroyed. The owner keeps the query alive until then. Returns the query."""
    query.subscribe(paint)
    owner.destroyed.connect(lambda: query.close())
    paint(query)
    return query


class QueryTableModel(QAbstractTableModel, Generic[T]):
    """A read-only table model of a live query, for a ``QTableView``: ``rows`` turns the query's
    data into rows, and each :data:`Column` turns a row into a cell. The model resets itself
    after each change of the query (on the thread the query's ``dispatch`` runs it on: the GUI
    thread under :func:`attach`), and closes the query in :meth:`close` or when it is
    destroyed."""

    def __init__(
        self,
        query: Query[T],
        rows: Callable[[T], Sequence[Any]],
        columns: Sequence[Column],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.query = query
        self._rows_of = rows
        self._columns = tuple(columns)
        self._rows: Sequence[Any] = ()
        self._unsubscribe = query.subscribe(self._changed)
        self.destroyed.connect(lambda: query.close())
        self._changed(query)

    def _changed(self, query: Query[T]) -> None:
        self.beginResetModel()
        self._rows = () if query.data is None else self._rows_of(query.data)
        self.endResetModel()

    def close(self) -> None:
        """Stop following the query and close it."""
        self._unsubscribe()
        self.query.close()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        _header, cell = self._columns[index.column()]
        return str(cell(self._rows[index.row()]))

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or orientation != Qt.Orientation.Horizontal:
            return None
        return self._columns[section][0]

    def cell(self, row: int, column: int) -> str:
        """What the view shows at ``row``, ``column`` (for tests and logs)."""
        return str(self.data(self.index(row, column), Qt.ItemDataRole.DisplayRole))
