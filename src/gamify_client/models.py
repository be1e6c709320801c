"""Typed documents of the Gamify backend (pydantic v2).

Attributes are snake_case; the wire's camelCase names and ``_id`` are accepted as aliases and
used again by ``model_dump(by_alias=True)``. Unknown fields are kept (``model_extra``), since
the real service adds fields freely. Every reference between documents accepts the id string
or the populated object, and every timestamp is an aware ``datetime`` (UTC when the wire
gives no offset).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeAlias, TypeVar

from pydantic import AfterValidator, AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "Acknowledgement",
    "ActivityItem",
    "ActivityLogEntry",
    "ActivityStream",
    "AdminBatchAnalytics",
    "AnalyticsSummary",
    "AnswerResult",
    "AssignmentScore",
    "Batch",
    "BatchActivityItem",
    "BatchAverage",
    "BatchMessage",
    "BatchMetrics",
    "BatchProgressReport",
    "BatchProgressSummary",
    "Category",
    "CompletedTask",
    "CompletionRecord",
    "ContentInteraction",
    "DailyActivity",
    "DailyEnrollment",
    "Dashboard",
    "DifficultQuestion",
    "Document",
    "DropOffPoint",
    "EngagedTopic",
    "EngagementLevel",
    "EngagementReport",
    "EnrollmentReport",
    "Feedback",
    "ForumAnalytics",
    "ForumQuestion",
    "GamifyModel",
    "GradeBucket",
    "GradeResult",
    "InProgressTask",
    "LessonEngagement",
    "LessonSummary",
    "ListedUser",
    "LoginResult",
    "MentorBatchAnalytics",
    "MentorBatchStudent",
    "MentorEngagementReport",
    "MentorInteraction",
    "MentorQuizScore",
    "MoodEntry",
    "MutationResult",
    "Notification",
    "OverallStats",
    "PerformanceReport",
    "ProgressMetrics",
    "ProgressStage",
    "QnaItem",
    "QuizAnalytics",
    "QuizScore",
    "QuizSummary",
    "RealTimeData",
    "RegisterResult",
    "RestrictResult",
    "StudentActivity",
    "StudentAnalytics",
    "StudentEngagement",
    "StudentOverall",
    "StudentProgress",
    "StudentProgressReport",
    "StudentProgressRow",
    "StudentQuizScore",
    "StudentSummary",
    "Submission",
    "SubmissionProgress",
    "SubmitTaskOutcome",
    "SurveyResponse",
    "Task",
    "TaskManagementReport",
    "TaskProgress",
    "TaskSubmissionSummary",
    "TaskSubmitOutcome",
    "TrackedSubmission",
    "User",
    "UserBatchProgress",
    "UserBatchReport",
    "UserProfile",
    "UserProgressReport",
    "UsersListing",
    "VolatileModel",
    "ref_id",
]


def ref_id(reference: object) -> str | None:
    """The id a reference names: the service sends a reference (a task's ``batch``, a
    progress's ``taskId``, a batch's ``users``) as an id string, or populated as the document
    itself, depending on the route; None when it names nothing (null, or a deleted document)."""
    if isinstance(reference, str):
        return reference
    found = getattr(reference, "id", None)
    return found if isinstance(found, str) else None


def _as_aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# The wire's times carry ``Z`` and validate as AwareDatetime without leaving pydantic-core; only
# a time without an offset takes the slower path that assumes UTC.
Timestamp: TypeAlias = Annotated[
    AwareDatetime | Annotated[datetime, AfterValidator(_as_aware)],
    Field(union_mode="left_to_right"),
]
"""An ISO-8601 time on the wire, an aware datetime in Python."""

Designation: TypeAlias = Literal["superadmin", "admin", "mentor", "user"]


class GamifyModel(BaseModel):
    """Base of every model: camelCase aliases, snake_case names, unknown fields kept.

    Models are immutable: an unchanged answer gives back the very objects it gave before, and
    the cache hands the same objects to every observer, so change one with ``model_copy``.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=False,
        extra="allow",
        frozen=True,
    )


class VolatileModel(GamifyModel):
    """A model with server bookkeeping that differs in every answer (a report's
    ``lastUpdated``): those fields do not count in ``==``, so polling unchanged data notifies
    nobody."""

    volatile_fields: ClassVar[frozenset[str]] = frozenset({"last_updated"})

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, GamifyModel)
        mine, theirs = self.__dict__, other.__dict__
        if mine.keys() != theirs.keys():
            return False
        volatile = self.volatile_fields
        # Field by field, stopping at the first difference: a patched report differs in its
        # first fields, and comparing it must not cost a copy of both.
        for name, value in mine.items():
            if name not in volatile and theirs[name] != value:
                return False
        return self.__pydantic_extra__ == other.__pydantic_extra__

    __hash__ = None  # type: ignore[assignment]


class Document(GamifyModel):
    """A stored document: a 24-hex ``_id`` and the usual Mongo bookkeeping fields."""

    id: str = Field(alias="_id", validation_alias=AliasChoices("_id", "id"))
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    version: int | None = Field(default=None, alias="__v")


class CompletedTask(GamifyModel):
    """One entry of ``User.completed_tasks``: the task (populated by the completed-tasks
    route, its ``category`` too) and when it was completed."""

    id: str | None = Field(default=None, alias="_id", validation_alias=AliasChoices("_id", "id"))
    task: str | Task | None = None
    completed_at: Timestamp | None = None


class InProgressTask(GamifyModel):
    """One entry of ``User.in_progress_tasks``."""

    task: str | Task | None = None
    started_at: Timestamp | None = None


class User(Document):
    """A person: superadmin, admin, mentor or user. ``xps`` is the total XP."""

    username: str | None = None
    email: str | None = None
    designation: Designation | str | None = None
    parent_id: str | None = None
    """A ``user``'s admin: that admin's ``_id`` as text (a plain string on the wire, never
    populated; on the real service it can also hold the admin's short code)."""
    admin_id: str | None = None
    avatar: str | None = None
    xps: int = 0
    restricted: bool | None = None
    theme: Literal["light", "dark", "system"] | str | None = None
    email_notifications: bool | None = None
    in_app_notifications: bool | None = None
    completed_tasks: list[CompletedTask] = Field(default_factory=list)
    in_progress_tasks: list[InProgressTask] = Field(default_factory=list)


class Category(Document):
    """A task category within a batch."""

    name: str | None = None
    emoji: str | None = None
    color: str | None = None
    tasks: list[str | Task | None] = Field(default_factory=list)
    batch: str | Batch | None = None


class CompletionRecord(GamifyModel):
    """One entry of ``Task.completion_records``: a user marked the task complete that day."""

    id: str | None = Field(default=None, alias="_id", validation_alias=AliasChoices("_id", "id"))
    user_id: str | User | None = None
    date: Timestamp | None = None


class Task(Document):
    """A task that users submit to earn ``points`` XP. ``content_type`` is video, document,
    quiz or other (the real service stores "video" whatever it is sent)."""

    name: str | None = None
    description: str | None = None
    details: str | None = None
    difficulty: str | None = None
    category: str | Category | None = None
    batch: str | Batch | None = None
    type: str | None = None
    points: int = 0
    badge: str | None = None
    resources: list[Any] = Field(default_factory=list)
    due_date: Timestamp | None = None
    submission_types: list[str] = Field(default_factory=list)
    assigned_to: list[str | User | None] = Field(default_factory=list)
    completed_by: list[Any] = Field(default_factory=list)
    completed_count: int = 0
    in_progress_count: int = 0
    video_url: str | None = None
    content_type: str | None = None
    color: str | None = None
    completion_records: list[CompletionRecord] = Field(default_factory=list)


class BatchMetrics(GamifyModel):
    """A batch's aggregate progress."""

    average_completion_rate: float = 0
    average_score: float = 0
    total_tasks_completed: int = 0
    mentor_feedback_count: int = 0


class Batch(Document):
    """A cohort: an admin, a mentor, enrolled users and their tasks."""

    name: str | None = None
    description: str | None = None
    admin: str | User | None = None
    mentor: str | User | None = None
    users: list[str | User | None] = Field(default_factory=list)
    tasks: list[str | Task | None] = Field(default_factory=list)
    learning_objectives: list[str] = Field(default_factory=list)
    industry_focus: str | None = None
    difficulty_level: str | None = None
    estimated_duration: float | str | None = None
    status: str | None = None
    start_date: Timestamp | None = None
    end_date: Timestamp | None = None
    progress_metrics: BatchMetrics | None = None


class BatchMessage(Document):
    """A message of a batch's chat; ``created_at`` is when it was sent. ``sender`` is
    populated: ``{_id, email}`` on the real service, with ``username`` and ``designation``
    once defect ``batch_message_500`` is fixed."""

    batch: str | Batch | None = None
    sender: str | User | None = None
    message: str | None = None


class TaskProgress(GamifyModel):
    """One task's state in a user's batch progress. ``task_id`` is None once the task was
    deleted and the entry left behind (populated references turn null)."""

    task_id: str | Task | None = None
    status: str = "not_started"
    submission_id: str | Submission | None = None
    submitted_at: Timestamp | None = None
    grade: float | None = None
    feedback: str | None = None
    points_earned: int = 0
    attempts: int = 0


class ProgressMetrics(GamifyModel):
    """A user's aggregate progress in one batch."""

    total_tasks: int = 0
    completed_tasks: int = 0
    submitted_tasks: int = 0
    graded_tasks: int = 0
    total_points_earned: int = 0
    completion_percentage: float = 0
    average_grade: float | None = None


class ActivityLogEntry(GamifyModel):
    """One line of a progress activity log (``task_completed``, ``milestone_reached``, ...).
    A batch's activity feed adds ``user``, the user whose log it is (``{_id, username}``)."""

    action: str
    id: str | None = Field(default=None, alias="_id", validation_alias=AliasChoices("_id", "id"))
    task_id: str | Task | None = None
    description: str | None = None
    timestamp: Timestamp | None = None
    metadata: dict[str, Any] | None = None
    user: str | User | None = None


class EngagedTopic(GamifyModel):
    """A topic a learner engaged with most in a batch, and why."""

    id: str | None = Field(default=None, alias="_id", validation_alias=AliasChoices("_id", "id"))
    topic: str | None = None
    reason: str | None = None


class MoodEntry(GamifyModel):
    """One line of a learner's mood tracker in a batch."""

    id: str | None = Field(default=None, alias="_id", validation_alias=AliasChoices("_id", "id"))
    date: Timestamp | None = None
    mood: str | None = None
    context: str | None = None


class UserBatchProgress(GamifyModel):
    """A user's progress in one batch. ``id`` is None for the zeroed default the server
    returns before any progress exists."""

    id: str | None = Field(default=None, alias="_id", validation_alias=AliasChoices("_id", "id"))
    user_id: str | User | None = None
    batch_id: str | Batch | None = None
    task_progress: list[TaskProgress] = Field(default_factory=list)
    progress_metrics: ProgressMetrics = Field(default_factory=ProgressMetrics)
    activity_log: list[ActivityLogEntry] = Field(default_factory=list)
    enrolled_at: Timestamp | None = None
    last_active_at: Timestamp | None = None
    status: str | None = None
    learning_summary: str = ""
    skills_acquired: list[str] = Field(default_factory=list)
    engaged_topics: list[EngagedTopic] = Field(default_factory=list)
    mood_tracker: list[MoodEntry] = Field(default_factory=list)


class Submission(GamifyModel):
    """A user's answer to a task. The submit route's receipt carries ``id`` instead of
    ``_id``; both are accepted."""

    id: str = Field(alias="_id", validation_alias=AliasChoices("_id", "id"))
    user_id: str | User | None = None
    task_id: str | Task | None = None
    submission_type: str | None = None
    value: Any = None
    submitted_at: Timestamp | None = None
    status: str | None = None
    grade: float | None = None
    feedback: str | None = None


class OverallStats(GamifyModel):
    """The dashboard's totals across every batch of the user."""

    total_batches: int = 0
    total_tasks_across_all_batches: int = 0
    total_completed_tasks: int = 0
    total_submitted_tasks: int = 0
    total_points_earned: int = 0
    user_total_xp: int = Field(default=0, alias="userTotalXP")
    current_streak: int = 0
    average_completion_rate: float = 0


class UserProfile(GamifyModel):
    """The dashboard's short profile of the user."""

    username: str | None = None
    total_xp: int = Field(default=0, alias="totalXP")


class Dashboard(VolatileModel):
    """What ``GET /api/batch-progress/dashboard/me`` returns for the token's user."""

    overall_stats: OverallStats = Field(default_factory=OverallStats)
    batch_progress: list[UserBatchProgress] = Field(default_factory=list)
    recent_submissions: list[Submission] = Field(default_factory=list)
    user_profile: UserProfile = Field(default_factory=UserProfile)
    last_updated: Timestamp | None = None


class BatchProgressSummary(GamifyModel):
    """A user's batch progress in brief, as ``realTimeData.batchProgress`` gives it."""

    completed_tasks: int = 0
    total_tasks: int = 0
    completion_percentage: float = 0
    total_points_earned: int = 0


class RealTimeData(GamifyModel):
    """The ``realTimeData`` a mutation returns: what changed, for the cache to patch at once.

    The submit routes fill the progress fields, task create the task fields. The real
    service's task submit omits ``current_streak`` (it is then None).
    """

    task_status: str | None = None
    task_id: str | None = None
    task_name: str | None = None
    batch_id: str | None = None
    user_id: str | None = None
    points_earned: int | None = None
    new_total_xp: int | None = Field(default=None, alias="newTotalXP")
    current_streak: int | None = None
    completion_time: Timestamp | None = None
    batch_progress: BatchProgressSummary | None = None
    activity_log: list[ActivityLogEntry] | ActivityLogEntry | None = None
    points: int | None = None
    difficulty: str | None = None
    created_at: Timestamp | None = None
    assigned_to: list[str | User | None] | None = None
    total_users_affected: int | None = None


class SubmissionProgress(GamifyModel):
    """The ``progress`` block of a task submit: the XP it earned."""

    points_earned: int = 0
    total_xps: int | None = Field(default=None, alias="totalXPS")
    task_completed: bool | None = None
    new_total_xp: int | None = Field(default=None, alias="newTotalXP")


class TaskSubmitOutcome(GamifyModel):
    """What ``POST /api/task/:id/submit`` reports: the submission receipt and the XP."""

    submission: Submission
    progress: SubmissionProgress = Field(default_factory=SubmissionProgress)


class SubmitTaskOutcome(GamifyModel):
    """What ``POST /api/batch-progress/submit-task`` reports in its ``data``."""

    task_progress: TaskProgress | list[TaskProgress] | None = None
    progress_metrics: ProgressMetrics | None = None
    current_streak: int | None = None
    points_earned: int | None = None
    new_total_xp: int | None = Field(default=None, alias="newTotalXP")
    is_first_task_of_day: bool | None = None


class BatchProgressReport(GamifyModel):
    """A batch with every student's progress, most complete first."""

    batch: Batch | str | None = None
    students_progress: list[UserBatchProgress] = Field(default_factory=list)


class LoginResult(GamifyModel):
    """A successful login: the JWT to send as ``Authorization: Bearer``."""

    message: str | None = None
    user_id: str
    token: str = Field(repr=False)
    designation: str | None = None


class RegisterResult(GamifyModel):
    """A new account; admins also get the short ``admin_id`` their users log in with."""

    message: str | None = None
    user_id: str
    admin_id: str | None = None


class Acknowledgement(GamifyModel):
    """An answer that only says what was done (``{message}``)."""

    message: str | None = None


class ListedUser(GamifyModel):
    """One account in the users listing: admins add ``admin_id``, users ``parent_id``."""

    id: str = Field(alias="_id", validation_alias=AliasChoices("_id", "id"))
    username: str | None = None
    email: str | None = None
    designation: Designation | str | None = None
    restricted: bool | None = None
    admin_id: str | None = None
    parent_id: str | None = None


class UsersListing(GamifyModel):
    """Every account by role; an admin sees only its own users in ``users``."""

    superadmins: list[ListedUser] = Field(default_factory=list)
    admins: list[ListedUser] = Field(default_factory=list)
    mentors: list[ListedUser] = Field(default_factory=list)
    users: list[ListedUser] = Field(default_factory=list)


class RestrictResult(GamifyModel):
    """A restriction toggled: the account's new ``restricted`` state."""

    message: str | None = None
    restricted: bool


class UserProgressReport(GamifyModel):
    """A user's progress over the tasks assigned to them: XP, counts, the streak of days with
    a completion, the mean grade, and completions per day (keys are the server's locale
    date strings)."""

    xps: float = 0
    tasks_assigned: int = 0
    tasks_completed: int = 0
    current_streak: int = 0
    average_score: float = 0
    completed_over_time: dict[str, int] = Field(default_factory=dict)


class UserBatchReport(UserProgressReport):
    """:class:`UserProgressReport` over one batch's tasks, with the learner's overview of the
    batch and the newest feedback they got there."""

    learning_summary: str = ""
    skills_acquired: list[str] = Field(default_factory=list)
    engaged_topics: list[EngagedTopic] = Field(default_factory=list)
    mood_tracker: list[MoodEntry] = Field(default_factory=list)
    mentor_feedback_summary: str | None = None


class Feedback(Document):
    """A rating (1 to 5) with a comment from one user to another in a batch; with a ``task``
    it is feedback on that task, without one feedback to a mentor. ``created_at`` is when it
    was given."""

    from_user: str | User | None = None
    to_user: str | User | None = None
    batch: str | Batch | None = None
    task: str | Task | None = None
    content: str | None = None
    rating: float = 0


class Notification(GamifyModel):
    """A progress notification: an overdue task (priority ``high``) or a graded one
    (``medium``)."""

    type: Literal["overdue_task", "task_graded"] | str
    title: str | None = None
    message: str | None = None
    task_id: str | None = None
    batch_id: str | None = None
    priority: Literal["high", "medium"] | str | None = None
    timestamp: Timestamp | None = None


# Analytics (``/api/analytics``, ``/api/mentor``, the batch's admin and mentor analytics) and
# surveys. Report rows are not documents: their ids are plain ``id`` fields. Numbers that the
# real service derives by division are floats; the real service's random placeholders
# (``fake_analytics``) have the same shapes.


class DailyEnrollment(GamifyModel):
    """How many students enrolled on one UTC day (``YYYY-MM-DD``)."""

    date: str
    enrolled: int = 0


class ProgressStage(GamifyModel):
    """How many students stand in one completion band (``"0-25%"`` ... ``"76-100%"``)."""

    stage: str
    users: int = 0


class EnrollmentReport(GamifyModel):
    """A batch's enrollment and completion: the last 7 days' enrollments, the completion
    rate (percent of enrolled students at 100%), and the mean days to complete."""

    enrollment_rate: list[DailyEnrollment] = Field(default_factory=list)
    completion_rate: float = 0
    course_progress: list[ProgressStage] = Field(default_factory=list)
    """Absent from the admin batch analytics' ``enrollment``."""
    average_time_to_completion: float = 0
    total_enrolled: int = 0
    total_completed: int = 0


class DailyActivity(GamifyModel):
    """How many students had any activity on one UTC day (``YYYY-MM-DD``)."""

    date: str
    active: int = 0


class ContentInteraction(GamifyModel):
    """Started entries (or submissions, feedback) per kind of content."""

    content: str
    views: int = 0
    type: str | None = None


class ForumAnalytics(GamifyModel):
    """The batch's feedback counted as forum posts; the other numbers are always 0."""

    total_posts: int = 0
    total_replies: int = 0
    active_discussions: int = 0
    average_response_time: float = 0


class MentorInteraction(GamifyModel):
    """Feedback to the batch's mentor: how much, and its mean rating (one decimal)."""

    total_messages: int = 0
    average_response_time: float = 0
    qa_sessions: int = 0
    satisfaction_score: float = 0


class EngagementReport(GamifyModel):
    """A batch's engagement: daily active students, content use, forum and mentor numbers."""

    user_activity: list[DailyActivity] = Field(default_factory=list)
    content_interaction: list[ContentInteraction] = Field(default_factory=list)
    forum_analytics: ForumAnalytics = Field(default_factory=ForumAnalytics)
    mentor_interaction: MentorInteraction = Field(default_factory=MentorInteraction)


class QuizScore(GamifyModel):
    """A task's mean grade over its submissions (ungraded ones count 0)."""

    quiz: str | None = None
    average: float = 0
    attempts: int = 0


class AssignmentScore(GamifyModel):
    """An assignment's mean grade over its submissions."""

    assignment: str | None = None
    average: float = 0
    submissions: int = 0


class StudentProgressRow(GamifyModel):
    """One student in a performance report: completion and grade percentages, last day
    active (``YYYY-MM-DD``)."""

    id: str | None = None
    name: str | None = None
    progress: float = 0
    score: float = 0
    last_active: str | None = None


class DropOffPoint(GamifyModel):
    """A module (tasks grouped by name) and how many students completed none of it."""

    module: str
    drop_off: int = 0
    total: int = 0


class PerformanceReport(GamifyModel):
    """A batch's performance: per-task scores, each student's progress, module drop-off."""

    quiz_scores: list[QuizScore] = Field(default_factory=list)
    assignment_scores: list[AssignmentScore] = Field(default_factory=list)
    """Only in the admin batch analytics, where it is always empty."""
    individual_progress: list[StudentProgressRow] = Field(default_factory=list)
    drop_off_points: list[DropOffPoint] = Field(default_factory=list)
    """Absent from the admin batch analytics' ``performance``."""


class AnalyticsSummary(VolatileModel):
    """A batch at a glance; ``engagement`` is ``"High"``, ``"Medium"`` or ``"Low"``."""

    total_students: int = 0
    active_students: int = 0
    completion_rate: float = 0
    average_score: float = 0
    engagement: str | None = None
    last_updated: Timestamp | None = None


class AdminBatchAnalytics(GamifyModel):
    """``GET /api/batches/:id/analytics/admin``: the three admin reports in one answer."""

    enrollment: EnrollmentReport = Field(default_factory=EnrollmentReport)
    engagement: EngagementReport = Field(default_factory=EngagementReport)
    performance: PerformanceReport = Field(default_factory=PerformanceReport)


class MentorQuizScore(GamifyModel):
    """A student's score in one quiz task (a random number on the real service)."""

    quiz: str | None = None
    score: float = 0


class MentorBatchStudent(GamifyModel):
    """One enrolled user in the mentor batch analytics; lessons are the batch's tasks the
    user completed, populated."""

    id: str | None = Field(default=None, alias="_id", validation_alias=AliasChoices("_id", "id"))
    name: str | None = None
    email: str | None = None
    progress: float = 0
    completed_lessons: list[str | Task] = Field(default_factory=list)
    quiz_scores: list[MentorQuizScore] = Field(default_factory=list)
    submitted_tasks: list[str | Task] = Field(default_factory=list)
    batch_avg: float = 0


class QuizSummary(GamifyModel):
    """A quiz task's mean score and its hard questions."""

    name: str | None = None
    average_score: float = 0
    difficult_questions: list[str] = Field(default_factory=list)


class BatchActivityItem(GamifyModel):
    """One line of the mentor batch analytics' activity (``time`` is text: a sample such as
    ``"2h ago"`` on the real service, an ISO time once fixed)."""

    student: str | None = None
    action: str | None = None
    time: str | None = None


class StudentEngagement(GamifyModel):
    """A student's engagement level from their progress: High, Medium or Low."""

    student_id: str | None = None
    student: str | None = None
    level: str | None = None


class QnaItem(GamifyModel):
    """A question (a feedback) in the mentor batch analytics."""

    student: str | None = None
    question: str | None = None
    answered: bool = False


class LessonSummary(GamifyModel):
    """A task as a lesson: completion percent, time spent, feedback text."""

    lesson: str | None = None
    completion_rate: float = 0
    avg_time: float = 0
    feedback: str | None = None


class TaskSubmissionSummary(GamifyModel):
    """A task's submissions in the mentor batch analytics."""

    task_id: str | Task | None = None
    task: str | None = None
    status: str | None = None
    submitted: int = 0
    graded: int = 0
    student: str | None = None
    feedback: str | None = None


class MentorBatchAnalytics(GamifyModel):
    """``GET /api/batches/:id/analytics/mentor`` (defect ``fake_analytics``: random scores,
    rates and statuses, sample activity and questions on the real service)."""

    students: list[MentorBatchStudent] = Field(default_factory=list)
    quizzes: list[QuizSummary] = Field(default_factory=list)
    assignments: list[QuizSummary] = Field(default_factory=list)
    batch_activity: list[BatchActivityItem] = Field(default_factory=list)
    engagement: list[StudentEngagement] = Field(default_factory=list)
    qna: list[QnaItem] = Field(default_factory=list)
    lessons: list[LessonSummary] = Field(default_factory=list)
    submissions: list[TaskSubmissionSummary] = Field(default_factory=list)


class StudentQuizScore(GamifyModel):
    """A graded submission as a quiz score; ``date`` is its UTC day (``YYYY-MM-DD``)."""

    quiz: str | None = None
    score: float = 0
    max_score: float = 100
    date: str | None = None


class StudentProgress(GamifyModel):
    """One student in the mentor's student-progress report."""

    id: str | None = None
    name: str | None = None
    avatar: str | None = None
    progress: float = 0
    average_score: float = 0
    last_active: str | None = None
    completed_lessons: int = 0
    total_lessons: int = 0
    quiz_scores: list[StudentQuizScore] = Field(default_factory=list)
    submitted_tasks: int = 0
    total_tasks: int = 0
    engagement_level: str | None = None


class BatchAverage(GamifyModel):
    """The students' mean progress and score, and the percent who completed."""

    progress: float = 0
    average_score: float = 0
    completion_rate: float = 0


class GradeBucket(GamifyModel):
    """How many scores fall in one letter band (``"A (90-100)"`` ...)."""

    grade: str
    count: int = 0


class DifficultQuestion(GamifyModel):
    """A quiz flagged as hard, with the percent of passing scores."""

    question: str
    correct_rate: float = 0


class QuizAnalytics(GamifyModel):
    """One task's graded submissions: mean, count, letter bands, hard questions."""

    quiz: str | None = None
    average_score: float = 0
    total_attempts: int = 0
    grade_distribution: list[GradeBucket] = Field(default_factory=list)
    difficult_questions: list[DifficultQuestion] = Field(default_factory=list)


class StudentProgressReport(GamifyModel):
    """``GET /api/mentor/batch/:id/student-progress``: every student's progress in a batch."""

    students: list[StudentProgress] = Field(default_factory=list)
    batch_average: BatchAverage = Field(default_factory=BatchAverage)
    quiz_analytics: list[QuizAnalytics] = Field(default_factory=list)


class ActivityItem(GamifyModel):
    """One activity of a student, as the mentor routes show it (``type``: lesson, task,
    skill, milestone or other)."""

    id: str | None = None
    student: str | None = None
    action: str | None = None
    item: str | None = None
    timestamp: Timestamp | None = None
    type: str | None = None


class EngagementLevel(GamifyModel):
    """How many students are at one engagement level, with its chart colour."""

    level: str
    count: int = 0
    color: str | None = None


class ForumQuestion(GamifyModel):
    """A feedback shown as a forum question (never marked answered by the real service)."""

    id: str | None = None
    student: str | None = None
    question: str | None = None
    timestamp: Timestamp | None = None
    answered: bool = False
    answer_timestamp: Timestamp | None = None
    urgent: bool = False


class MentorEngagementReport(GamifyModel):
    """``GET /api/mentor/batch/:id/engagement``: recent activity, levels, questions."""

    activity_feed: list[ActivityItem] = Field(default_factory=list)
    engagement_levels: list[EngagementLevel] = Field(default_factory=list)
    qna_forum: list[ForumQuestion] = Field(default_factory=list)


class LessonEngagement(GamifyModel):
    """A task's completion among the batch's students, time spent and mean feedback rating
    (defect ``fake_analytics``: random time, 4.5 without feedback)."""

    lesson: str | None = None
    completion_rate: float = 0
    average_time_spent: float = 0
    student_feedback: float = 0
    total_students: int = 0
    completed_students: int = 0


class TrackedSubmission(GamifyModel):
    """A submitted entry in the submission tracker. ``id`` is the submission's id, or the
    progress entry's own id when there is none; ``grade`` is text such as ``"85%"``."""

    id: str | None = None
    task: str | None = None
    student: str | None = None
    status: str | None = None
    submitted_at: Timestamp | None = None
    grade: str | None = None
    score: float | None = None
    feedback: str | None = None


class TaskManagementReport(GamifyModel):
    """``GET /api/mentor/batch/:id/task-management``: per-task engagement, submissions."""

    lesson_engagement: list[LessonEngagement] = Field(default_factory=list)
    submission_tracker: list[TrackedSubmission] = Field(default_factory=list)


class StudentSummary(GamifyModel):
    """Who the student is, and their first progress's enrolment and activity times."""

    id: str | None = None
    name: str | None = None
    email: str | None = None
    enrolled_date: Timestamp | None = None
    last_active: Timestamp | None = None


class StudentOverall(GamifyModel):
    """A student's totals over the batches read."""

    overall_progress: float = 0
    completed_lessons: int = 0
    total_lessons: int = 0
    completed_tasks: int = 0
    total_tasks: int = 0
    average_score: float = 0


class StudentActivity(GamifyModel):
    """One recent activity of a student, with its batch's name."""

    action: str | None = None
    item: str | None = None
    timestamp: Timestamp | None = None
    batch: str | None = None


class StudentAnalytics(GamifyModel):
    """``GET /api/mentor/student/:id/analytics``: a student across batches (or one)."""

    student: StudentSummary = Field(default_factory=StudentSummary)
    progress: StudentOverall = Field(default_factory=StudentOverall)
    recent_activity: list[StudentActivity] = Field(default_factory=list)
    strengths: list[str] = Field(default_factory=list)
    areas_for_improvement: list[str] = Field(default_factory=list)


class ActivityStream(GamifyModel):
    """A page of a batch's activity, newest first."""

    activities: list[ActivityItem] = Field(default_factory=list)
    total_count: int = 0
    has_more: bool = False


class GradeResult(GamifyModel):
    """A graded submission; ``grade`` echoes the request (the real service may send it back
    as the text it was given)."""

    submission_id: str | None = None
    grade: float | str | None = None
    feedback: str | None = None


class AnswerResult(GamifyModel):
    """An answered question (a feedback whose content got the answer appended)."""

    question_id: str | None = None
    answer: str | None = None


class SurveyResponse(Document):
    """A user's answers to a category's survey."""

    user_id: str | User | None = None
    category_id: str | Category | None = None
    answers: list[float] = Field(default_factory=list)
    timestamp: Timestamp | None = None


# The documents reference each other (a task's batch, a batch's tasks); resolve the cycle once
# every class exists.
for _model in (
    CompletedTask,
    InProgressTask,
    User,
    Category,
    CompletionRecord,
    Task,
    Batch,
    TaskProgress,
):
    _model.model_rebuild()


_Data = TypeVar("_Data")


@dataclass(frozen=True, slots=True)
class MutationResult(Generic[_Data]):
    """What a write returns: the parsed payload, the server's message, and ``real_time``
    (the parsed ``realTimeData``, or None when the route sends none)."""

    data: _Data
    message: str | None = None
    real_time: RealTimeData | None = None
    body: Any = None
    """The decoded JSON body as the server sent it."""
