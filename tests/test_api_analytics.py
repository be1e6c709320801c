"""Analytics: ``/api/analytics``, ``/api/mentor`` and ``/api/batches/:id/analytics/*``.

First the client against the real service's payloads (respx), then against the reference
backend, with each defect of the area switched on and off. Every test runs for the sync and
the async client.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from gamify_client import (
    AuthenticationError,
    BadRequestError,
    CacheKey,
    Event,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
)
from gamify_client.models import (
    ActivityStream,
    AdminBatchAnalytics,
    AnalyticsSummary,
    EngagementReport,
    EnrollmentReport,
    GradeResult,
    MentorBatchAnalytics,
    MentorEngagementReport,
    PerformanceReport,
    StudentAnalytics,
    StudentProgressReport,
    Task,
    TaskManagementReport,
)
from gamify_client.testing import DemoData, GamifyBackend
from tests import _api_support
from tests._api_support import Api, ApiFactory

BASE_URL = "http://gamify.test"

BATCH_ID = "65f0c1a2b3c4d5e6f7a8b910"
USER_ID = "65f0c1a2b3c4d5e6f7a8b903"
OTHER_USER_ID = "65f0c1a2b3c4d5e6f7a8b904"
TASK_ID = "65f0c1a2b3c4d5e6f7a8b930"
SUBMISSION_ID = "65f0c1a2b3c4d5e6f7a8b940"
ENTRY_ID = "65f0c1a2b3c4d5e6f7a8b960"
LOG_ID = "65f0c1a2b3c4d5e6f7a8b961"
FEEDBACK_ID = "65f0c1a2b3c4d5e6f7a8b970"
SUBMITTED = "2024-03-15T08:41:03.256Z"
NOW = "2024-03-18T10:00:00.000Z"


# --- clients ------------------------------------------------------------------------------------


make_api = _api_support.make_api
router = _api_support.router


def invalidated(api: Api, key: Any) -> bool:
    entry = api.client.refresh_manager.peek(key)
    assert entry is not None
    return entry.is_invalidated


def sent_json(route: respx.Route) -> Any:
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.content)


# --- the real service's payloads ----------------------------------------------------------------


def days(*counts: int, field: str) -> list[dict[str, Any]]:
    return [{"date": f"2024-03-{12 + i:02d}", field: n} for i, n in enumerate(counts)]


ENROLLMENT = {
    "enrollmentRate": days(0, 0, 1, 0, 2, 0, 0, field="enrolled"),
    "completionRate": 33,
    "courseProgress": [
        {"stage": "0-25%", "users": 1},
        {"stage": "26-50%", "users": 1},
        {"stage": "51-75%", "users": 0},
        {"stage": "76-100%", "users": 1},
    ],
    "averageTimeToCompletion": 2.4,
    "totalEnrolled": 3,
    "totalCompleted": 1,
}
ENGAGEMENT = {
    "userActivity": days(0, 1, 2, 0, 3, 1, 0, field="active"),
    "contentInteraction": [
        {"content": "Video Lectures", "views": 4, "type": "video"},
        {"content": "Practice Quizzes", "views": 0, "type": "quiz"},
        {"content": "Reading Materials", "views": 0, "type": "document"},
        {"content": "Assignments", "views": 3, "type": "assignment"},
        {"content": "Discussion Forums", "views": 2, "type": "forum"},
    ],
    "forumAnalytics": {
        "totalPosts": 2,
        "totalReplies": 0,
        "activeDiscussions": 0,
        "averageResponseTime": 0,
    },
    "mentorInteraction": {
        "totalMessages": 2,
        "averageResponseTime": 0,
        "qaSessions": 0,
        "satisfactionScore": 4.5,
    },
}
INDIVIDUAL = [
    {"id": USER_ID, "name": "ada", "progress": 50, "score": 88, "lastActive": "2024-03-15"}
]
PERFORMANCE = {
    "quizScores": [{"quiz": "Landing page", "average": 44, "attempts": 2}],
    "individualProgress": INDIVIDUAL,
    "dropOffPoints": [{"module": "Module 1", "dropOff": 1, "total": 3}],
}


def activity(**changes: Any) -> dict[str, Any]:
    item = {
        "id": LOG_ID,
        "student": "ada",
        "action": "completed lesson",
        "item": "Completed task: Landing page",
        "timestamp": SUBMITTED,
        "type": "lesson",
    }
    item.update(changes)
    return item


def task_doc() -> dict[str, Any]:
    return {
        "_id": TASK_ID,
        "name": "Landing page",
        "description": "Build it",
        "details": "Responsive",
        "difficulty": "Easy",
        "contentType": "quiz",
        "points": 100,
        "__v": 0,
    }


# --- respx: one test per route ------------------------------------------------------------------


def test_enrollment_parses_the_real_report(make_api: ApiFactory, router: respx.MockRouter) -> None:
    router.get(f"/api/analytics/batch/{BATCH_ID}/enrollment").respond(200, json=ENROLLMENT)

    report = make_api()(lambda c: c.analytics.enrollment(BATCH_ID))

    assert isinstance(report, EnrollmentReport)
    assert [d.enrolled for d in report.enrollment_rate] == [0, 0, 1, 0, 2, 0, 0]
    assert report.enrollment_rate[0].date == "2024-03-12"
    assert [s.stage for s in report.course_progress][-1] == "76-100%"
    assert (report.completion_rate, report.average_time_to_completion) == (33, 2.4)
    assert (report.total_enrolled, report.total_completed) == (3, 1)


def test_engagement_parses_the_real_report(make_api: ApiFactory, router: respx.MockRouter) -> None:
    router.get(f"/api/analytics/batch/{BATCH_ID}/engagement").respond(200, json=ENGAGEMENT)

    report = make_api()(lambda c: c.analytics.engagement(BATCH_ID))

    assert isinstance(report, EngagementReport)
    assert [d.active for d in report.user_activity] == [0, 1, 2, 0, 3, 1, 0]
    assert [(c.type, c.views) for c in report.content_interaction][-1] == ("forum", 2)
    assert report.forum_analytics.total_posts == 2
    assert report.mentor_interaction.satisfaction_score == 4.5


def test_performance_parses_the_real_report(make_api: ApiFactory, router: respx.MockRouter) -> None:
    router.get(f"/api/analytics/batch/{BATCH_ID}/performance").respond(200, json=PERFORMANCE)

    report = make_api()(lambda c: c.analytics.performance(BATCH_ID))

    assert isinstance(report, PerformanceReport)
    assert (report.quiz_scores[0].quiz, report.quiz_scores[0].average) == ("Landing page", 44)
    assert report.individual_progress[0].id == USER_ID
    assert report.individual_progress[0].last_active == "2024-03-15"
    assert report.drop_off_points[0].drop_off == 1


def test_summary_parses_the_real_report(make_api: ApiFactory, router: respx.MockRouter) -> None:
    payload = {
        "totalStudents": 3,
        "activeStudents": 2,
        "completionRate": 33,
        "averageScore": 71.5,
        "engagement": "Medium",
        "lastUpdated": NOW,
    }
    router.get(f"/api/analytics/batch/{BATCH_ID}/summary").respond(200, json=payload)

    summary = make_api()(lambda c: c.analytics.summary(BATCH_ID))

    assert isinstance(summary, AnalyticsSummary)
    assert (summary.active_students, summary.average_score) == (2, 71.5)
    assert summary.engagement == "Medium"
    assert summary.last_updated is not None and summary.last_updated.day == 18


def test_batch_admin_parses_the_real_report(make_api: ApiFactory, router: respx.MockRouter) -> None:
    enrollment = {k: v for k, v in ENROLLMENT.items() if k != "courseProgress"}
    payload = {
        "enrollment": enrollment,
        "engagement": {**ENGAGEMENT, "contentInteraction": ENGAGEMENT["contentInteraction"][:4]},
        "performance": {
            "quizScores": [],
            "assignmentScores": [],
            "individualProgress": INDIVIDUAL,
        },
    }
    route = router.get(f"/api/batches/{BATCH_ID}/analytics/admin").respond(200, json=payload)

    report = make_api(token="admin-token")(lambda c: c.analytics.batch_admin(BATCH_ID))

    assert isinstance(report, AdminBatchAnalytics)
    assert route.calls.last.request.headers["authorization"] == "Bearer admin-token"
    assert report.enrollment.course_progress == []
    assert len(report.engagement.content_interaction) == 4
    assert report.performance.assignment_scores == []
    assert report.performance.individual_progress[0].score == 88


def test_batch_mentor_parses_the_real_random_report(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    student = {
        "_id": USER_ID,
        "name": "ada",
        "email": "ada@example.com",
        "progress": 50,
        "completedLessons": [task_doc()],
        "quizScores": [{"quiz": "Landing page", "score": 37}],
        "submittedTasks": [task_doc()],
        "batchAvg": 50,
    }
    quiz = {"name": "Landing page", "averageScore": 81, "difficultQuestions": ["Q2"]}
    payload = {
        "students": [student],
        "quizzes": [quiz],
        "assignments": [quiz],
        "batchActivity": [{"student": "ada", "action": "completed a lesson", "time": "2h ago"}],
        "engagement": [{"studentId": USER_ID, "student": "ada", "level": "Medium"}],
        "qna": [{"student": "ada", "question": "How do I solve Q3?", "answered": False}],
        "lessons": [
            {"lesson": "Landing page", "completionRate": 63, "avgTime": 12, "feedback": ""}
        ],
        "submissions": [
            {
                "taskId": TASK_ID,
                "task": "Landing page",
                "status": "In Progress",
                "submitted": 0,
                "graded": 0,
                "student": "ada",
                "feedback": "Great job!",
            }
        ],
    }
    router.get(f"/api/batches/{BATCH_ID}/analytics/mentor").respond(200, json=payload)

    report = make_api(token="t")(lambda c: c.analytics.batch_mentor(BATCH_ID))

    assert isinstance(report, MentorBatchAnalytics)
    first = report.students[0]
    assert first.id == USER_ID
    assert isinstance(first.completed_lessons[0], Task)
    assert first.quiz_scores[0].score == 37
    assert report.quizzes[0].difficult_questions == ["Q2"]
    assert report.batch_activity[0].time == "2h ago"
    assert report.lessons[0].avg_time == 12
    assert report.submissions[0].task_id == TASK_ID


def test_student_progress_parses_the_real_report(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    payload = {
        "students": [
            {
                "id": USER_ID,
                "name": "ada",
                "avatar": "",
                "progress": 50,
                "averageScore": 88,
                "lastActive": "2024-03-15",
                "completedLessons": 1,
                "totalLessons": 2,
                "quizScores": [
                    {"quiz": "Landing page", "score": 88, "maxScore": 100, "date": "2024-03-15"}
                ],
                "submittedTasks": 1,
                "totalTasks": 2,
                "engagementLevel": "Low",
            }
        ],
        "batchAverage": {"progress": 50, "averageScore": 88, "completionRate": 0},
        "quizAnalytics": [
            {
                "quiz": "Landing page",
                "averageScore": 88,
                "totalAttempts": 1,
                "gradeDistribution": [{"grade": "B (80-89)", "count": 1}],
                "difficultQuestions": [{"question": "Advanced topics", "correctRate": 75}],
            }
        ],
    }
    router.get(f"/api/mentor/batch/{BATCH_ID}/student-progress").respond(200, json=payload)

    report = make_api()(lambda c: c.analytics.student_progress(BATCH_ID))

    assert isinstance(report, StudentProgressReport)
    assert report.students[0].quiz_scores[0].max_score == 100
    assert report.students[0].engagement_level == "Low"
    assert report.batch_average.average_score == 88
    assert report.quiz_analytics[0].difficult_questions[0].correct_rate == 75


def test_mentor_engagement_parses_the_real_report(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    payload = {
        "activityFeed": [activity()],
        "engagementLevels": [
            {"level": "High", "count": 0, "color": "#22c55e"},
            {"level": "Medium", "count": 1, "color": "#eab308"},
            {"level": "Low", "count": 2, "color": "#ef4444"},
        ],
        "qnaForum": [
            {
                "id": FEEDBACK_ID,
                "student": "Anonymous",
                "question": "How do I deploy?",
                "timestamp": SUBMITTED,
                "answered": False,
                "answerTimestamp": None,
                "urgent": False,
            }
        ],
    }
    router.get(f"/api/mentor/batch/{BATCH_ID}/engagement").respond(200, json=payload)

    report = make_api()(lambda c: c.analytics.mentor_engagement(BATCH_ID))

    assert isinstance(report, MentorEngagementReport)
    assert report.activity_feed[0].type == "lesson"
    assert [level.count for level in report.engagement_levels] == [0, 1, 2]
    assert report.qna_forum[0].id == FEEDBACK_ID
    assert report.qna_forum[0].answer_timestamp is None


def test_task_management_parses_the_real_tracker(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    # The real service: random time spent, 4.5 without feedback, a graded entry shown as
    # "In Progress", and no "score" at all for an ungraded one.
    payload = {
        "lessonEngagement": [
            {
                "lesson": "Landing page",
                "completionRate": 33,
                "averageTimeSpent": 47,
                "studentFeedback": 4.5,
                "totalStudents": 3,
                "completedStudents": 1,
            }
        ],
        "submissionTracker": [
            {
                "id": SUBMISSION_ID,
                "task": "Landing page",
                "student": "ada",
                "status": "In Progress",
                "submittedAt": SUBMITTED,
                "grade": "85%",
                "score": 85,
                "feedback": "ok",
            },
            {
                "id": ENTRY_ID,
                "task": "Landing page",
                "student": "bob",
                "status": "Graded",
                "submittedAt": SUBMITTED,
                "grade": None,
                "feedback": "",
            },
        ],
    }
    router.get(f"/api/mentor/batch/{BATCH_ID}/task-management").respond(200, json=payload)

    report = make_api()(lambda c: c.analytics.task_management(BATCH_ID))

    assert isinstance(report, TaskManagementReport)
    assert report.lesson_engagement[0].average_time_spent == 47
    graded, ungraded = report.submission_tracker
    assert (graded.grade, graded.score, graded.status) == ("85%", 85, "In Progress")
    assert (ungraded.id, ungraded.grade, ungraded.score) == (ENTRY_ID, None, None)


def test_activity_stream_sends_the_page(make_api: ApiFactory, router: respx.MockRouter) -> None:
    payload = {"activities": [activity()], "totalCount": 7, "hasMore": True}
    route = router.get(f"/api/mentor/batch/{BATCH_ID}/activity-stream").respond(200, json=payload)

    page = make_api()(lambda c: c.analytics.activity_stream(BATCH_ID, limit=1, offset=2))

    assert isinstance(page, ActivityStream)
    assert dict(route.calls.last.request.url.params) == {"limit": "1", "offset": "2"}
    assert (page.total_count, page.has_more, page.activities[0].id) == (7, True, LOG_ID)


def test_student_sends_the_batch_filter(make_api: ApiFactory, router: respx.MockRouter) -> None:
    payload = {
        "student": {
            "id": USER_ID,
            "name": "ada",
            "email": "ada@example.com",
            "enrolledDate": SUBMITTED,
            "lastActive": NOW,
        },
        "progress": {
            "overallProgress": 50,
            "completedLessons": 1,
            "totalLessons": 2,
            "completedTasks": 1,
            "totalTasks": 2,
            "averageScore": 88,
        },
        "recentActivity": [
            {"action": "task_graded", "item": "Received grade 88%", "timestamp": NOW, "batch": "B"}
        ],
        "strengths": ["Landing page"],
        "areasForImprovement": [],
    }
    route = router.get(f"/api/mentor/student/{USER_ID}/analytics").respond(200, json=payload)

    report = make_api()(lambda c: c.analytics.student(USER_ID, batch_id=BATCH_ID))

    assert isinstance(report, StudentAnalytics)
    assert dict(route.calls.last.request.url.params) == {"batchId": BATCH_ID}
    assert report.progress.overall_progress == 50
    assert report.strengths == ["Landing page"]
    assert report.recent_activity[0].batch == "B"


def test_grade_submission_sends_the_grade_and_parses_the_echo(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    # The real service echoes the request: a grade sent as text comes back as text.
    answer = {
        "success": True,
        "message": "Submission graded successfully",
        "submissionId": SUBMISSION_ID,
        "grade": "85",
        "feedback": "Nice",
    }
    route = router.post("/api/mentor/grade-submission").respond(200, json=answer)

    result = make_api()(
        lambda c: c.analytics.grade_submission(
            submission_id=SUBMISSION_ID, grade=85, feedback="Nice"
        )
    )

    assert sent_json(route) == {"submissionId": SUBMISSION_ID, "grade": 85, "feedback": "Nice"}
    assert isinstance(result.data, GradeResult)
    assert (result.data.submission_id, result.data.grade) == (SUBMISSION_ID, "85")
    assert result.message == "Submission graded successfully"


def test_answer_question_sends_the_answer(make_api: ApiFactory, router: respx.MockRouter) -> None:
    answer = {
        "success": True,
        "message": "Question answered successfully",
        "questionId": FEEDBACK_ID,
        "answer": "Use the CLI",
    }
    route = router.post("/api/mentor/answer-question").respond(200, json=answer)

    result = make_api()(
        lambda c: c.analytics.answer_question(question_id=FEEDBACK_ID, answer="Use the CLI")
    )

    assert sent_json(route) == {"questionId": FEEDBACK_ID, "answer": "Use the CLI"}
    assert result.data.question_id == FEEDBACK_ID


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda c: c.analytics.enrollment(BATCH_ID), f"/api/analytics/batch/{BATCH_ID}/enrollment"),
        (lambda c: c.analytics.summary(BATCH_ID), f"/api/analytics/batch/{BATCH_ID}/summary"),
        (
            lambda c: c.analytics.task_management(BATCH_ID),
            f"/api/mentor/batch/{BATCH_ID}/task-management",
        ),
    ],
)
def test_an_unknown_batch_is_a_not_found_error(
    make_api: ApiFactory, router: respx.MockRouter, call: Callable[[Any], Any], path: str
) -> None:
    router.get(path).respond(404, json={"error": "Batch not found"})

    with pytest.raises(NotFoundError, match="Batch not found") as caught:
        make_api()(call)

    assert caught.value.body == {"error": "Batch not found"}


def test_a_failed_report_is_an_internal_server_error(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    body = {"error": "Failed to fetch performance analytics"}
    route = router.get(f"/api/analytics/batch/{BATCH_ID}/performance").respond(500, json=body)

    with pytest.raises(InternalServerError, match="Failed to fetch performance analytics"):
        make_api(max_retries=1)(lambda c: c.analytics.performance(BATCH_ID))

    assert route.call_count == 1


def test_a_grade_is_never_sent_twice(make_api: ApiFactory, router: respx.MockRouter) -> None:
    route = router.post("/api/mentor/grade-submission").respond(
        500, json={"error": "Failed to grade submission"}
    )

    with pytest.raises(InternalServerError, match="Failed to grade submission"):
        make_api(max_retries=2)(
            lambda c: c.analytics.grade_submission(submission_id=SUBMISSION_ID, grade=90)
        )

    assert route.call_count == 1


def test_an_unknown_submission_is_a_not_found_error(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    router.post("/api/mentor/grade-submission").respond(404, json={"error": "Submission not found"})

    with pytest.raises(NotFoundError, match="Submission not found"):
        make_api()(lambda c: c.analytics.grade_submission(submission_id=ENTRY_ID, grade=90))


def test_a_grade_invalidates_progress_dashboards_and_analytics(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    answer = {"success": True, "submissionId": SUBMISSION_ID, "grade": 90, "feedback": "ok"}
    router.post("/api/mentor/grade-submission").respond(200, json=answer)
    api = make_api()
    manager = api.client.refresh_manager
    cached = [
        (CacheKey.ANALYTICS, BATCH_ID, "task-management"),
        (CacheKey.USER_PROGRESS, USER_ID, BATCH_ID),
        (CacheKey.DASHBOARD, USER_ID),
        (CacheKey.NOTIFICATIONS, USER_ID),
    ]
    for key in cached:
        manager.set(key, "before")
    manager.set((CacheKey.SURVEYS, USER_ID), "untouched")
    seen: list[Any] = []
    api.client.events.subscribe(Event.PROGRESS_UPDATE, seen.append)

    api(lambda c: c.analytics.grade_submission(submission_id=SUBMISSION_ID, grade=90))

    assert all(invalidated(api, key) for key in cached)
    assert not invalidated(api, (CacheKey.SURVEYS, USER_ID))
    assert [item.grade for item in seen] == [90]


def test_an_answer_invalidates_feedback_and_analytics(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    answer = {"success": True, "questionId": FEEDBACK_ID, "answer": "yes"}
    router.post("/api/mentor/answer-question").respond(200, json=answer)
    api = make_api()
    manager = api.client.refresh_manager
    feedback_key = (CacheKey.FEEDBACK, USER_ID, "received")
    engagement_key = (CacheKey.ANALYTICS, BATCH_ID, "mentor-engagement")
    dashboard_key = (CacheKey.DASHBOARD, USER_ID)
    for key in (feedback_key, engagement_key, dashboard_key):
        manager.set(key, "before")

    api(lambda c: c.analytics.answer_question(question_id=FEEDBACK_ID, answer="yes"))

    assert invalidated(api, feedback_key)
    assert invalidated(api, engagement_key)
    assert not invalidated(api, dashboard_key)


# --- the reference backend ----------------------------------------------------------------------


@pytest.fixture
def backend() -> Iterator[GamifyBackend]:
    """A backend whose clock starts at noon UTC and ticks a millisecond a reading: the
    reports' days never straddle midnight, and activities keep their order."""
    ticks = itertools.count()
    start = datetime(2024, 3, 18, 12, tzinfo=UTC)
    with GamifyBackend(clock=lambda: start + timedelta(milliseconds=next(ticks))) as backend:
        yield backend


class Setup:
    """Raw requests that put data in place, as the frontend would send them."""

    def __init__(self, backend: GamifyBackend, demo: DemoData, http: httpx.Client) -> None:
        self.backend = backend
        self.demo = demo
        self.http = http

    def send(self, method: str, path: str, as_user: str, payload: Any = None) -> Any:
        headers = {"authorization": f"Bearer {self.backend.token_for(as_user)}"}
        response = self.http.request(method, path, json=payload, headers=headers)
        assert response.status_code < 300, response.text
        return response.json()

    def submit(self, user: int, task: int) -> str:
        """The learner submits a text entry; returns the Submission's id."""
        learner = self.demo.users[user].id
        answer = self.send(
            "POST",
            f"/api/task/{self.demo.task_ids[task]}/submit",
            learner,
            {"userId": learner, "submissionType": "Text Entry", "value": "done"},
        )
        return str(answer["submission"]["id"])

    def complete_without_submission(self, user: int, task: int) -> None:
        learner = self.demo.users[user].id
        payload = {
            "userId": learner,
            "taskId": self.demo.task_ids[task],
            "batchId": self.demo.batch_id,
        }
        self.send("POST", "/api/batch-progress/submit-task", learner, payload)

    def feedback(self, user: int, content: str, rating: int, task: int | None = None) -> str:
        learner = self.demo.users[user].id
        payload: dict[str, Any] = {
            "fromUser": learner,
            "toUser": self.demo.mentor.id,
            "batch": self.demo.batch_id,
            "content": content,
            "rating": rating,
        }
        if task is not None:
            payload["task"] = self.demo.task_ids[task]
        return str(self.send("POST", "/api/feedback/submit", learner, payload)["_id"])

    def delete_user(self, user: int) -> None:
        account = self.demo.users[user]
        self.send("DELETE", f"/api/user/{account.id}", account.id, {"password": account.password})


@pytest.fixture
def setup(backend: GamifyBackend, demo: DemoData, api: httpx.Client) -> Setup:
    return Setup(backend, demo, api)


@pytest.fixture
def as_role(make_api: ApiFactory, backend: GamifyBackend, demo: DemoData) -> Callable[[str], Api]:
    """A client logged in as ``"admin"``, ``"mentor"``, ``"superadmin"`` or ``"user"``."""

    def make(role: str) -> Api:
        account = demo.users[0] if role == "user" else getattr(demo, role)
        return make_api(backend=backend, token=backend.token_for(account.id))

    return make


def tracker_row(report: TaskManagementReport, student: str) -> Any:
    return next(row for row in report.submission_tracker if row.student == student)


def test_reports_follow_a_submission_and_its_grade(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData
) -> None:
    admin, mentor, learner = as_role("admin"), as_role("mentor"), as_role("user")
    submission_id = setup.submit(0, 0)
    name = demo.users[0].name

    enrollment = admin(lambda c: c.analytics.enrollment(demo.batch_id))
    assert enrollment.total_enrolled == 3
    assert [day.date for day in enrollment.enrollment_rate] == [
        f"2024-03-{day}" for day in range(12, 19)
    ]
    assert [day.enrolled for day in enrollment.enrollment_rate] == [0] * 6 + [3]
    assert [s.users for s in enrollment.course_progress] == [2, 1, 0, 0]
    row = tracker_row(mentor(lambda c: c.analytics.task_management(demo.batch_id)), name)
    assert (row.id, row.status, row.grade) == (submission_id, "Submitted", None)

    graded = mentor(
        lambda c: c.analytics.grade_submission(submission_id=row.id, grade=90, feedback="Neat")
    )

    assert graded.data.grade == 90
    row = tracker_row(mentor(lambda c: c.analytics.task_management(demo.batch_id)), name)
    assert (row.status, row.grade, row.score, row.feedback) == ("Graded", "90%", 90, "Neat")
    stored = learner(
        lambda c: c.tasks.submission(task_id=demo.task_ids[0], user_id=demo.users[0].id)
    )
    assert (stored.status, stored.grade, stored.feedback) == ("graded", 90, "Neat")
    performance = admin(lambda c: c.analytics.performance(demo.batch_id))
    mine = next(p for p in performance.individual_progress if p.id == demo.users[0].id)
    assert (mine.progress, mine.score) == (25, 90)
    assert performance.quiz_scores[0].average == 90
    # A graded task still counts as completed (defect graded_not_completed fixed).
    progress = learner(lambda c: c.progress.user(demo.users[0].id, demo.batch_id))
    assert progress.progress_metrics.completed_tasks == 1
    student = mentor(lambda c: c.analytics.student(demo.users[0].id))
    assert student.strengths == [demo_task_name(demo, 0)]
    assert student.recent_activity[0].action == "task_graded"
    summary = admin(lambda c: c.analytics.summary(demo.batch_id))
    assert (summary.total_students, summary.active_students, summary.average_score) == (3, 3, 30)


def demo_task_name(demo: DemoData, index: int) -> str:
    return ("Landing page", "REST client", "Sales dashboard", "Churn case study")[index]


def test_engagement_counts_feedback_and_the_mentors_rating(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData
) -> None:
    setup.submit(1, 1)
    setup.feedback(0, "Great mentor", 5)
    setup.feedback(1, "Helpful", 4)

    report = as_role("admin")(lambda c: c.analytics.engagement(demo.batch_id))

    views = {item.type: item.views for item in report.content_interaction}
    assert views == {"video": 1, "quiz": 0, "document": 0, "assignment": 1, "forum": 2}
    assert report.forum_analytics.total_posts == 2
    assert report.mentor_interaction.total_messages == 2
    assert report.mentor_interaction.satisfaction_score == 4.5
    assert report.user_activity[-1].active == 3


def test_an_entry_without_a_submission_is_graded_by_its_own_id(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData, backend: GamifyBackend
) -> None:
    setup.complete_without_submission(1, 2)
    mentor = as_role("mentor")
    row = tracker_row(mentor(lambda c: c.analytics.task_management(demo.batch_id)), "Leo Learner")

    backend.defects.add("grade_by_submission_only")
    with pytest.raises(NotFoundError, match="Submission not found"):
        mentor(lambda c: c.analytics.grade_submission(submission_id=row.id, grade=60))
    backend.defects.discard("grade_by_submission_only")
    mentor(lambda c: c.analytics.grade_submission(submission_id=row.id, grade=60))

    row = tracker_row(mentor(lambda c: c.analytics.task_management(demo.batch_id)), "Leo Learner")
    assert (row.status, row.grade) == ("Graded", "60%")


def test_tracker_status_labels_defect_shows_the_real_labels(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData, backend: GamifyBackend
) -> None:
    graded_id = setup.submit(0, 0)
    setup.submit(1, 0)
    mentor = as_role("mentor")
    mentor(lambda c: c.analytics.grade_submission(submission_id=graded_id, grade=75))
    backend.defects.add("tracker_status_labels")

    report = mentor(lambda c: c.analytics.task_management(demo.batch_id))

    assert tracker_row(report, "Uma User").status == "In Progress"
    assert tracker_row(report, "Leo Learner").status == "Graded"


def test_graded_not_completed_defect_drops_the_completion(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData, backend: GamifyBackend
) -> None:
    submission_id = setup.submit(0, 0)
    backend.defects.add("graded_not_completed")
    mentor = as_role("mentor")

    mentor(lambda c: c.analytics.grade_submission(submission_id=submission_id, grade=80))

    progress = as_role("user")(lambda c: c.progress.user(demo.users[0].id, demo.batch_id))
    assert progress.progress_metrics.completed_tasks == 0
    lesson = mentor(lambda c: c.analytics.task_management(demo.batch_id)).lesson_engagement[0]
    assert lesson.completed_students == 0


def test_fake_analytics_defect_invents_numbers_the_sdk_still_parses(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData, backend: GamifyBackend
) -> None:
    setup.submit(0, 0)
    mentor = as_role("mentor")
    fixed = mentor(lambda c: c.analytics.task_management(demo.batch_id)).lesson_engagement
    assert [(x.average_time_spent, x.student_feedback) for x in fixed] == [(0, 0)] * 4
    computed = mentor(lambda c: c.analytics.batch_mentor(demo.batch_id))
    assert computed.submissions[0].status == "Submitted"
    assert computed.submissions[0].submitted == 1
    assert computed.qna == []
    assert computed.batch_activity[0].action == "completed lesson"

    backend.defects.add("fake_analytics")
    faked = mentor(lambda c: c.analytics.task_management(demo.batch_id)).lesson_engagement
    sample = mentor(lambda c: c.analytics.batch_mentor(demo.batch_id))

    assert all(30 <= x.average_time_spent <= 59 and x.student_feedback == 4.5 for x in faked)
    assert [item.time for item in sample.batch_activity[:2]] == ["2h ago", "1h ago"]
    assert sample.qna[0].question == "How do I solve Q3?"
    assert all(
        s.status in ("Not Started", "In Progress", "Submitted", "Graded")
        for s in sample.submissions
    )


def test_task_feedback_is_the_lessons_mean_rating(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData
) -> None:
    setup.feedback(0, "Clear brief", 5, task=1)
    setup.feedback(1, "Too long", 2, task=1)

    lessons = as_role("mentor")(lambda c: c.analytics.task_management(demo.batch_id))

    assert lessons.lesson_engagement[1].student_feedback == 3.5
    assert lessons.lesson_engagement[0].student_feedback == 0


def test_an_answer_is_appended_to_the_question(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData
) -> None:
    question = setup.feedback(0, "How do I deploy?", 4)
    mentor = as_role("mentor")
    asked = mentor(lambda c: c.analytics.mentor_engagement(demo.batch_id)).qna_forum
    assert [(q.id, q.student, q.answered) for q in asked] == [(question, "Uma User", False)]

    mentor(lambda c: c.analytics.answer_question(question_id=question, answer="Use the CLI"))

    asked = mentor(lambda c: c.analytics.mentor_engagement(demo.batch_id)).qna_forum
    assert asked[0].question == "How do I deploy?\n\n--- ANSWER ---\nUse the CLI"
    qna = mentor(lambda c: c.analytics.batch_mentor(demo.batch_id)).qna
    assert qna[0].answered is True
    with pytest.raises(NotFoundError, match="Question not found"):
        mentor(lambda c: c.analytics.answer_question(question_id=LOG_ID, answer="x"))


def test_the_activity_stream_pages_newest_first(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData, backend: GamifyBackend
) -> None:
    setup.submit(2, 3)
    admin = as_role("admin")

    first = admin(lambda c: c.analytics.activity_stream(demo.batch_id, limit=1))
    rest = admin(lambda c: c.analytics.activity_stream(demo.batch_id, limit=10, offset=1))

    assert (first.total_count, first.has_more) == (4, True)
    assert first.activities[0].action == "completed lesson"
    assert (len(rest.activities), rest.has_more) == (3, False)
    assert {a.action for a in rest.activities} == {"reached milestone"}
    unknown = admin(lambda c: c.analytics.activity_stream(LOG_ID))
    assert (unknown.activities, unknown.total_count) == ([], 0)


def test_a_bad_page_is_a_bad_request_or_an_empty_page(
    make_api: ApiFactory, backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    token = backend.token_for(demo.admin.id)
    path = f"/api/mentor/batch/{demo.batch_id}/activity-stream?limit=ten"
    headers = {"authorization": f"Bearer {token}"}
    assert api.get(path, headers=headers).status_code == 400

    backend.defects.add("validation_500")

    assert api.get(path, headers=headers).json() == {
        "activities": [],
        "totalCount": 3,
        "hasMore": False,
    }


def test_orphan_progress_is_skipped_or_fails_as_on_the_real_service(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData, backend: GamifyBackend
) -> None:
    backend.defects.add("no_cascade")
    setup.delete_user(2)
    admin = as_role("admin")

    enrollment = admin(lambda c: c.analytics.enrollment(demo.batch_id))
    assert enrollment.total_enrolled == 2
    assert (
        len(admin(lambda c: c.analytics.batch_admin(demo.batch_id)).performance.individual_progress)
        == 2
    )

    backend.defects.add("orphan_500")
    with pytest.raises(InternalServerError, match="Failed to fetch enrollment analytics"):
        admin(lambda c: c.analytics.enrollment(demo.batch_id))
    with pytest.raises(InternalServerError, match="Failed to fetch admin batch analytics") as err:
        admin(lambda c: c.analytics.batch_admin(demo.batch_id))
    assert err.value.body["error"] == "Cannot read properties of null (reading '_id')"
    # The mentor's reports skip a deleted user on the real service too.
    assert len(admin(lambda c: c.analytics.student_progress(demo.batch_id)).students) == 2


def test_reads_and_grading_need_staff_or_the_batchs_mentor(
    make_api: ApiFactory,
    as_role: Callable[[str], Api],
    setup: Setup,
    demo: DemoData,
    backend: GamifyBackend,
) -> None:
    submission_id = setup.submit(0, 0)
    anonymous, learner = make_api(backend=backend), as_role("user")

    with pytest.raises(AuthenticationError, match="No token provided"):
        anonymous(lambda c: c.analytics.performance(demo.batch_id))
    with pytest.raises(PermissionDeniedError):
        learner(lambda c: c.analytics.student_progress(demo.batch_id))
    with pytest.raises(PermissionDeniedError):
        learner(lambda c: c.analytics.grade_submission(submission_id=submission_id, grade=100))
    assert learner(lambda c: c.analytics.student(demo.users[0].id)).student.name == "Uma User"
    with pytest.raises(PermissionDeniedError):
        learner(lambda c: c.analytics.student(demo.users[1].id))

    backend.defects.add("missing_auth")

    result = anonymous(
        lambda c: c.analytics.grade_submission(submission_id=submission_id, grade=100)
    )
    assert result.data.grade == 100
    assert anonymous(lambda c: c.analytics.performance(demo.batch_id)).individual_progress


def test_the_batch_analytics_check_the_role(
    as_role: Callable[[str], Api], demo: DemoData, backend: GamifyBackend
) -> None:
    admin, mentor, learner = as_role("admin"), as_role("mentor"), as_role("user")

    for api, call in (
        (learner, lambda c: c.analytics.batch_admin(demo.batch_id)),
        (mentor, lambda c: c.analytics.batch_admin(demo.batch_id)),
        (admin, lambda c: c.analytics.batch_mentor(demo.batch_id)),
    ):
        with pytest.raises(PermissionDeniedError, match="Forbidden"):
            api(call)
    with pytest.raises(NotFoundError, match="Batch not found"):
        admin(lambda c: c.analytics.batch_admin(LOG_ID))
    report = as_role("superadmin")(lambda c: c.analytics.batch_mentor(demo.batch_id))
    assert len(report.students) == 3


def test_bad_input_is_a_bad_request_or_the_real_500(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData, backend: GamifyBackend
) -> None:
    submission_id = setup.submit(0, 0)
    mentor = as_role("mentor")
    bad_grade = lambda c: c.analytics.grade_submission(  # noqa: E731
        submission_id=submission_id, grade="high"
    )

    with pytest.raises(BadRequestError, match="grade"):
        mentor(bad_grade)
    with pytest.raises(NotFoundError, match="Batch not found"):
        mentor(lambda c: c.analytics.task_management("not-an-id"))

    backend.defects.add("validation_500")

    with pytest.raises(InternalServerError, match="Failed to grade submission"):
        mentor(bad_grade)
    with pytest.raises(InternalServerError, match="Failed to fetch task management analytics"):
        mentor(lambda c: c.analytics.task_management("not-an-id"))


def test_student_analytics_needs_a_student_with_progress(
    as_role: Callable[[str], Api], demo: DemoData
) -> None:
    mentor = as_role("mentor")

    with pytest.raises(NotFoundError, match="Student not found"):
        mentor(lambda c: c.analytics.student(LOG_ID))
    with pytest.raises(NotFoundError, match="No progress data found for student"):
        mentor(lambda c: c.analytics.student(demo.mentor.id))
    with pytest.raises(NotFoundError, match="No progress data found for student"):
        mentor(lambda c: c.analytics.student(demo.users[0].id, batch_id=LOG_ID))
    report = mentor(lambda c: c.analytics.student(demo.users[0].id, batch_id=demo.batch_id))
    assert (report.progress.total_tasks, report.progress.overall_progress) == (4, 0)
    assert report.recent_activity[0].batch == "Demo Cohort"


def test_a_malformed_question_id_is_a_bad_request_or_the_real_500(
    as_role: Callable[[str], Api], backend: GamifyBackend
) -> None:
    mentor = as_role("mentor")
    answer = lambda c: c.analytics.answer_question(question_id="q1", answer="yes")  # noqa: E731

    with pytest.raises(BadRequestError, match="Invalid questionId"):
        mentor(answer)

    backend.defects.add("validation_500")

    with pytest.raises(InternalServerError, match="Failed to answer question"):
        mentor(answer)


def test_a_student_who_completes_every_task_counts_as_completed(
    as_role: Callable[[str], Api], setup: Setup, demo: DemoData
) -> None:
    for task in range(4):
        setup.submit(0, task)
    admin = as_role("admin")

    enrollment = admin(lambda c: c.analytics.enrollment(demo.batch_id))
    performance = admin(lambda c: c.analytics.performance(demo.batch_id))
    summary = admin(lambda c: c.analytics.summary(demo.batch_id))

    assert (enrollment.total_completed, enrollment.completion_rate) == (1, 33)
    assert [s.users for s in enrollment.course_progress] == [2, 0, 0, 1]
    assert enrollment.average_time_to_completion == 0
    assert [(p.module, p.drop_off, p.total) for p in performance.drop_off_points] == [
        ("Module 1", 2, 3),
        ("Module 2", 2, 3),
    ]
    assert [q.attempts for q in performance.quiz_scores] == [1, 1, 1, 1]
    assert summary.completion_rate == 33
