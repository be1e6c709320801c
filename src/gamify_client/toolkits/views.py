"""What the Gamify pages show, computed from the data of live queries with no toolkit: the
learner's dashboard (XP, streak, completion, batches), the task board and an admin's view of a
batch's students. Every frontend paints the same rows, so they all say the same thing."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import BatchProgressReport, Dashboard, TaskProgress

__all__ = [
    "BatchRow",
    "DashboardSummary",
    "StudentRow",
    "TaskRow",
    "batch_name",
    "days",
    "student_rows",
    "summarize_dashboard",
    "task_rows",
]

_STATUS_LABELS = {
    "completed": "Done",
    "submitted": "Submitted",
    "graded": "Graded",
    "in_progress": "In progress",
    "not_started": "To do",
}


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One of the learner's batches: its name, tasks done of all, completion."""

    batch: str
    done: str
    completion: str


@dataclass(frozen=True, slots=True)
class DashboardSummary:
    """The figures of a learner's dashboard, as text ready to paint."""

    name: str
    xp: str
    streak: str
    completion: str
    tasks: str
    batches: tuple[BatchRow, ...]

    def describe(self) -> str:
        """The three headline figures in one line: ``XP 100 | streak 1 day | completion 25%``."""
        return f"XP {self.xp} | streak {self.streak} | completion {self.completion}"


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One task on the learner's board."""

    task: str
    difficulty: str
    status: str
    xp: str


@dataclass(frozen=True, slots=True)
class StudentRow:
    """One student of a batch, as an admin sees them."""

    student: str
    done: str
    xp: str
    completion: str


def days(streak: int) -> str:
    """``1 day``, ``3 days``."""
    return f"{streak} day" if streak == 1 else f"{streak} days"


def _percent(done: int, total: int) -> int:
    return round(100 * done / total) if total else 0


def _name(value: object, fallback: str) -> str:
    """The name of a populated document (a batch, a task) or its username (a user); the id
    when the backend sent only an id."""
    for attribute in ("name", "username"):
        name = getattr(value, attribute, None)
        if name:
            return str(name)
    return str(value) if isinstance(value, str) and value else fallback


def summarize_dashboard(dashboard: Dashboard) -> DashboardSummary:
    """The dashboard's headline figures and its batches."""
    stats = dashboard.overall_stats
    done, total = stats.total_completed_tasks, stats.total_tasks_across_all_batches
    batches = tuple(
        BatchRow(
            batch=_name(progress.batch_id, "Batch"),
            done=f"{progress.progress_metrics.completed_tasks}/{progress.progress_metrics.total_tasks}",
            completion=f"{progress.progress_metrics.completion_percentage:.0f}%",
        )
        for progress in dashboard.batch_progress
    )
    return DashboardSummary(
        name=dashboard.user_profile.username or "Learner",
        xp=str(stats.user_total_xp),
        streak=days(stats.current_streak),
        completion=f"{_percent(done, total)}%",
        tasks=f"{done} of {total} tasks",
        batches=batches,
    )


def _task_row(progress: TaskProgress) -> TaskRow:
    task = progress.task_id
    difficulty = getattr(task, "difficulty", None) or ""
    return TaskRow(
        task=_name(task, "Task"),
        difficulty=str(difficulty),
        status=_STATUS_LABELS.get(progress.status, progress.status.replace("_", " ").title()),
        xp=str(progress.points_earned) if progress.points_earned else "",
    )


def task_rows(dashboard: Dashboard) -> tuple[TaskRow, ...]:
    """The learner's task board: every task of every batch, with its status."""
    return tuple(
        _task_row(task) for progress in dashboard.batch_progress for task in progress.task_progress
    )


def student_rows(report: BatchProgressReport) -> tuple[StudentRow, ...]:
    """A batch's students, most XP first."""
    students = sorted(
        report.students_progress,
        key=lambda student: -student.progress_metrics.total_points_earned,
    )
    return tuple(
        StudentRow(
            student=_name(student.user_id, "Student"),
            done=f"{student.progress_metrics.completed_tasks}/{student.progress_metrics.total_tasks}",
            xp=str(student.progress_metrics.total_points_earned),
            completion=f"{student.progress_metrics.completion_percentage:.0f}%",
        )
        for student in students
    )


def batch_name(report: BatchProgressReport) -> str:
    """The name of the batch a report is about."""
    return _name(report.batch, "Batch")
