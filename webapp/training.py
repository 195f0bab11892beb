"""Training workspace: trainers generate, review and assemble quizzes from published articles; agents take them.

Views stay thin: generation, review, quizzes, attempts and results live in ``kb.training``. Every route declares its
roles: trainer (and admin) author and read results, agents take the quizzes assigned to them.
"""
from __future__ import annotations

from collections import defaultdict
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import func, select
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from kb.models import utcnow
from kb.render import render_markdown
from kb.training import attempts as attempt_ops
from kb.training import charts, quizzes
from kb.training import questions as bank
from kb.training import results as result_ops
from kb.training.generate import SAY_HEADING, STEPS_HEADING, Generator, section_text, yield_by_type
from kb.training.models import FAMILIES, Attempt, Quiz, TrainingQuestion

from .auth import current_user, require_role
from .context import get_db

bp = Blueprint("training", __name__, url_prefix="/training")

FAMILY_LABELS = {"fact": "关键数字", "disclosure": "必须告知", "next_step": "下一步", "order": "步骤排序",
                 "script": "选择话术"}
STATUS_LABELS = {"pending": "待审核", "approved": "已批准", "dropped": "已删除", "stale": "待复核", "all": "全部"}
REVIEW_DONE = {"approve": "已批准", "drop": "已删除", "restore": "已恢复为待审核"}
TRAINER = ("trainer",)
AGENT = ("agent",)


def _now():
    """The clock (tests may set TRAINING_CLOCK to a callable)."""
    return current_app.config.get("TRAINING_CLOCK", utcnow)()


def _username() -> str:
    return current_user()["username"]


def _is_trainer() -> bool:
    return current_user()["role"] in ("trainer", "admin")


def _int_list(name: str) -> list[int]:
    try:
        return [int(v) for v in request.form.getlist(name)]
    except ValueError:
        abort(400, description=f"{name} must be whole numbers")


def _get_or_404(session, model, ident):
    record = session.get(model, ident)
    if record is None:
        abort(404, description="没有找到这条记录。")
    return record


def source_link(article_id: str, title: str, heading: str = "") -> str:
    """The article page for agents, opened at the question's section (``?h=``), when the app has that page;
    otherwise a search for the article's title."""
    path = f"/agent/article/{quote(article_id)}"
    try:
        current_app.url_map.bind("localhost").match(path, method="GET")
    except RequestRedirect:
        pass
    except (NotFound, MethodNotAllowed):
        return url_for("search.page", q=title) if "search.page" in current_app.view_functions else "#"
    if heading and heading not in (STEPS_HEADING, SAY_HEADING):
        return f"{path}?{urlencode({'h': heading})}"
    return path


@bp.context_processor
def _helpers():
    return {"source_link": source_link, "family_labels": FAMILY_LABELS,
            "status_labels": STATUS_LABELS, "markdown": lambda text: Markup(render_markdown(text))}


# --- home -----------------------------------------------------------------------------------------------------------

@bp.get("/")
@require_role("trainer", "agent")
def home():
    if not _is_trainer():
        with get_db().session() as s:
            mine = quizzes.for_agent(s, _username())
            return render_template("training/agent_home.html", mine=mine)
    with get_db().session() as s:
        current = bank.published(s)
        versions = {aid: n for aid, (n, _) in current.items()}
        counts = defaultdict(lambda: defaultdict(int))
        for q in s.scalars(select(TrainingQuestion)):
            state = "stale" if q.status == "approved" and bank.is_stale(q, versions) else q.status
            counts[q.article_id][state] += 1
            counts["*"][state] += 1
        by_type = defaultdict(list)
        tags = defaultdict(int)
        for _, article in sorted(current.values(), key=lambda pair: pair[1].title):
            by_type[article.type].append(article)
            for tag in article.tags:
                tags[tag] += 1
        published = list(current.values())
        report = yield_by_type(published, Generator(published).generate())
        quiz_rows = list(s.scalars(select(Quiz).order_by(Quiz.id.desc())))
        finished = dict(s.execute(select(Attempt.quiz_id, func.count()).where(Attempt.finished_at.is_not(None))
                                  .group_by(Attempt.quiz_id)).all())
        return render_template("training/trainer_home.html", by_type=by_type,
                               tags=sorted(tags.items(), key=lambda kv: (-kv[1], kv[0])),
                               counts=counts, report=report, quizzes=quiz_rows, finished=finished)


# --- question bank --------------------------------------------------------------------------------------------------

@bp.post("/generate")
@require_role(*TRAINER)
def generate():
    with get_db().session() as s:
        try:
            chosen = bank.select_articles(bank.published(s), request.form.getlist("article"),
                                          request.form.getlist("tag"))
        except bank.TrainingError as exc:
            flash(str(exc))
            return redirect(url_for(".home"))
        report = bank.generate(s, chosen, _username())
    flash(f"为 {len(chosen)} 篇文章生成了 {len(report.created)} 道新题"
          + (f"（另有 {report.existing} 道以前生成过，保持原状）" if report.existing else "") + "。请逐题审核。")
    return redirect(url_for(".question_list", article=chosen, status="pending"))


@bp.get("/questions")
@require_role(*TRAINER)
def question_list():
    status = request.args.get("status", "pending")
    if status not in STATUS_LABELS:
        abort(400, description=f"status must be one of {', '.join(STATUS_LABELS)}")
    family = request.args.get("family", "")
    if family and family not in FAMILIES:
        abort(400, description=f"family must be one of {', '.join(FAMILIES)}")
    article_ids = [a for a in request.args.getlist("article") if a]
    with get_db().session() as s:
        versions = bank.current_versions(s)
        query = select(TrainingQuestion).order_by(TrainingQuestion.article_id, TrainingQuestion.id)
        if article_ids:
            query = query.where(TrainingQuestion.article_id.in_(article_ids))
        if family:
            query = query.where(TrainingQuestion.family == family)
        rows = []
        for q in s.scalars(query):
            stale = bank.is_stale(q, versions)
            if status == "stale" and not (stale and q.status != "dropped"):
                continue
            if status not in ("all", "stale") and q.status != status:
                continue
            rows.append((q, stale))
        titles = {aid: a.title for aid, (_, a) in bank.published(s).items()}
        return render_template("training/questions.html", rows=rows, status=status, family=family,
                               article_ids=article_ids, titles=titles, versions=versions)


@bp.post("/questions/review")
@require_role(*TRAINER)
def review():
    action = request.form.get("action", "")
    verb, _, one = action.partition(":")
    if verb not in ("approve", "drop", "restore"):
        abort(400, description="action must be approve, drop or restore")
    if one:
        try:
            ids = [int(one)]
        except ValueError:
            abort(400, description="question id must be a whole number")
    else:
        ids = _int_list("ids")
    if not ids:
        flash("请先勾选题目。")
    errors = []
    with get_db().session() as s:
        for ident in ids:
            question = _get_or_404(s, TrainingQuestion, ident)
            try:
                {"approve": bank.approve, "drop": bank.drop, "restore": bank.restore}[verb](s, question, _username())
            except bank.TrainingError as exc:
                errors.append(f"#{ident}：{exc}")
    done = len(ids) - len(errors)
    if done:
        flash(f"{REVIEW_DONE[verb]} {done} 道题。")
    for error in errors:
        flash(error)
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/training/") else url_for(".question_list"))


@bp.route("/questions/<int:question_id>/edit", methods=["GET", "POST"])
@require_role(*TRAINER)
def question_edit(question_id: int):
    with get_db().session() as s:
        question = _get_or_404(s, TrainingQuestion, question_id)
        current = bank.published(s).get(question.article_id)
        current_source = section_text(current[1], question.heading, question.source_field) if current else None
        error, form = None, None
        if request.method == "POST":
            form = _edit_form(question)
            try:
                bank.edit(s, question, form["prompt"], form["options"], form["answer"], _username(),
                          approve_now=request.form.get("approve") == "1")
            except bank.TrainingError as exc:
                error = str(exc)
            else:
                flash(f"已保存题目 #{question.id}。")
                return redirect(url_for(".question_list", article=question.article_id, status="all"))
        if form is None:
            options = list(question.answer) if question.mode == "order" else list(question.options)
            form = {"prompt": question.prompt, "options": options, "answer": question.answer}
        stale = current is None or current[0] != question.article_version
        page = render_template("training/question_edit.html", q=question, form=form, error=error, stale=stale,
                               current=current, current_source=current_source)
        return page, 400 if error else 200


def _edit_form(question: TrainingQuestion) -> dict:
    prompt = request.form.get("prompt", "")
    if question.mode == "order":
        options = request.form.get("steps", "").split("\n")
        return {"prompt": prompt, "options": [o.strip() for o in options], "answer": None}
    if question.mode == "fill":
        return {"prompt": prompt, "options": [], "answer": request.form.get("answer", "")}
    options = request.form.getlist("option")
    try:
        correct = int(request.form.get("correct", ""))
        answer = options[correct].strip()
    except (ValueError, IndexError):
        answer = ""
    return {"prompt": prompt, "options": options, "answer": answer}


# --- quizzes --------------------------------------------------------------------------------------------------------

def _quiz_form_context(s, selected: list[int]):
    usable = bank.usable(s)
    grouped = defaultdict(list)
    for q in usable:
        grouped[(q.article_type, q.article_title)].append(q)
    approved = s.scalar(select(func.count()).select_from(TrainingQuestion)
                        .where(TrainingQuestion.status == "approved"))
    return {"grouped": sorted(grouped.items()), "selected": set(selected), "stale_count": approved - len(usable)}


@bp.route("/quizzes/new", methods=["GET", "POST"])
@require_role(*TRAINER)
def quiz_new():
    return _quiz_form(None)


@bp.route("/quizzes/<int:quiz_id>/edit", methods=["GET", "POST"])
@require_role(*TRAINER)
def quiz_edit(quiz_id: int):
    return _quiz_form(quiz_id)


def _quiz_form(quiz_id: int | None):
    with get_db().session() as s:
        quiz = _get_or_404(s, Quiz, quiz_id) if quiz_id is not None else None
        if quiz is not None and quiz.status != "draft":
            abort(409, description="已发布的测验不能再修改。")
        error = None
        if request.method == "POST":
            form = {k: request.form.get(k, "") for k in ("title", "pass_mark", "time_limit", "feedback")}
            selected = _int_list("question")
            try:
                settings = quizzes.parse_settings(form["title"], form["pass_mark"], form["time_limit"],
                                                  form["feedback"])
                quiz = quizzes.save_quiz(s, settings, selected, _username(), quiz)
            except bank.TrainingError as exc:
                error = str(exc)
            else:
                flash("测验已保存为草稿。检查无误后发布并分配给坐席。")
                return redirect(url_for(".quiz_detail", quiz_id=quiz.id))
        elif quiz is not None:
            form = {"title": quiz.title, "pass_mark": quiz.pass_mark, "time_limit": quiz.time_limit_minutes or "",
                    "feedback": quiz.feedback}
            selected = [item.question_id for item in quiz.items]
        else:
            form = {"title": "", "pass_mark": 80, "time_limit": "", "feedback": "each"}
            selected = []
        page = render_template("training/quiz_form.html", quiz=quiz, form=form, error=error,
                               **_quiz_form_context(s, selected))
        return page, 400 if error else 200


@bp.get("/quizzes/<int:quiz_id>")
@require_role(*TRAINER)
def quiz_detail(quiz_id: int):
    with get_db().session() as s:
        quiz = _get_or_404(s, Quiz, quiz_id)
        versions = bank.current_versions(s)
        items = [(item, item.snapshot or item.question.snapshot(), bank.is_stale(item.question, versions))
                 for item in quiz.items]
        assigned = {a.username for a in quiz.assignments}
        return render_template("training/quiz_detail.html", quiz=quiz, items=items, agents=quizzes.agents(s),
                               assigned=assigned, summary=result_ops.results(s, quiz.id))


@bp.post("/quizzes/<int:quiz_id>/publish")
@require_role(*TRAINER)
def quiz_publish(quiz_id: int):
    usernames = request.form.getlist("agent")
    with get_db().session() as s:
        quiz = _get_or_404(s, Quiz, quiz_id)
        try:
            quizzes.publish(s, quiz, _username())
            added = quizzes.assign(s, quiz, usernames, _username())
        except bank.TrainingError as exc:
            s.rollback()
            flash(str(exc))
            return redirect(url_for(".quiz_detail", quiz_id=quiz_id))
    flash("测验已发布" + (f"，并分配给 {len(added)} 名坐席。" if added else "。还没有分配给坐席。"))
    return redirect(url_for(".quiz_detail", quiz_id=quiz_id))


@bp.post("/quizzes/<int:quiz_id>/assign")
@require_role(*TRAINER)
def quiz_assign(quiz_id: int):
    with get_db().session() as s:
        quiz = _get_or_404(s, Quiz, quiz_id)
        try:
            added = quizzes.assign(s, quiz, request.form.getlist("agent"), _username())
        except bank.TrainingError as exc:
            flash(str(exc))
            return redirect(url_for(".quiz_detail", quiz_id=quiz_id))
    flash(f"已分配给 {len(added)} 名坐席。" if added else "没有新分配的坐席。")
    return redirect(url_for(".quiz_detail", quiz_id=quiz_id))


# --- results --------------------------------------------------------------------------------------------------------

def _quiz_param(s) -> Quiz | None:
    raw = request.args.get("quiz", "")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # "²" or 10**30 must not reach int() / SQLite
        abort(400, description="quiz must be a quiz number")
    return _get_or_404(s, Quiz, int(raw))


@bp.get("/results")
@require_role(*TRAINER)
def results():
    with get_db().session() as s:
        quiz = _quiz_param(s)
        data = result_ops.results(s, quiz.id if quiz else None)
        all_quizzes = list(s.scalars(select(Quiz).where(Quiz.status == "published").order_by(Quiz.id.desc())))
        latest = {}
        if quiz is not None:
            for attempt in s.scalars(select(Attempt).where(Attempt.quiz_id == quiz.id,
                                                           Attempt.finished_at.is_not(None)).order_by(Attempt.id)):
                latest[attempt.username] = attempt.id
        return render_template("training/results.html", quiz=quiz, data=data, quizzes=all_quizzes,
                               latest=latest, charts=_charts(data, quiz))


def _charts(data: result_ops.Results, quiz: Quiz | None) -> dict[str, Markup]:
    mark = quiz.pass_mark / 100 if quiz else None
    agent_bars = []
    for a in data.agents:
        if quiz is not None and a.last_score is not None:
            value = a.last_score / 100
            agent_bars.append(charts.Bar(a.display_name, value, f"{a.last_score:.0f}% {'通过' if a.passed else '未通过'}",
                                         "good" if a.passed else "poor", f"{a.display_name}（{a.username}）"))
        elif quiz is None and a.answered:
            agent_bars.append(charts.Bar(a.display_name, a.share, f"{a.share:.0%}（{a.correct}/{a.answered}）",
                                         charts.tone_for(a.share), f"{a.display_name}（{a.username}）"))
    question_bars = [charts.Bar(_without_article(t), t.share, f"{t.share:.0%}（{t.correct}/{t.answered}）",
                                charts.tone_for(t.share), f"{t.detail}：{t.label}") for t in data.questions[:15]]
    article_bars = [charts.Bar(t.label, t.share, f"{t.share:.0%}（{t.correct}/{t.answered}）",
                               charts.tone_for(t.share)) for t in data.articles[:15]]
    return {
        "agents": Markup(charts.bar_chart(agent_bars, "每名坐席的得分" if quiz else "每名坐席的正确率",
                                          marker=mark, marker_label=f"及格线 {quiz.pass_mark}%" if quiz else "")),
        "questions": Markup(charts.bar_chart(question_bars, "每道题的答对比例（最低的在前）", label_width=330)),
        "articles": Markup(charts.bar_chart(article_bars, "每篇文章的答对比例（最常答错的在前）")),
    }


def _without_article(tally: result_ops.Tally) -> str:
    """A question's prompt without the 「article title」› lead its source line already names."""
    title = tally.detail.split(" › ")[0]
    return tally.label.removeprefix(f"「{title}」›")


@bp.get("/results.csv")
@require_role(*TRAINER)
def results_csv():
    view = request.args.get("view", "agents")
    if view not in result_ops.VIEWS:
        abort(400, description=f"view must be one of {', '.join(result_ops.VIEWS)}")
    with get_db().session() as s:
        quiz = _quiz_param(s)
        body = result_ops.to_csv(result_ops.results(s, quiz.id if quiz else None), view)
    name = f"training-{'quiz-' + str(quiz.id) if quiz else 'all'}-{view}.csv"
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- taking a quiz --------------------------------------------------------------------------------------------------

@bp.post("/my/<int:quiz_id>/start")
@require_role(*AGENT)
def start(quiz_id: int):
    with get_db().session() as s:
        quiz = _get_or_404(s, Quiz, quiz_id)
        if quiz.status != "published" or not quizzes.is_assigned(s, quiz.id, _username()):
            abort(403, description="这份测验没有分配给你。")
        attempt = attempt_ops.start(s, quiz, _username(), _now())
        return redirect(url_for(".attempt", attempt_id=attempt.id))


def _attempt_for_viewer(s, attempt_id: int) -> Attempt:
    attempt = _get_or_404(s, Attempt, attempt_id)
    if attempt.username != _username() and not _is_trainer():
        abort(403, description="这不是你的测验记录。")
    return attempt


@bp.get("/attempts/<int:attempt_id>")
@require_role("agent", "trainer")
def attempt(attempt_id: int):
    with get_db().session() as s:
        attempt = _attempt_for_viewer(s, attempt_id)
        is_owner = attempt.username == _username()
        if is_owner and attempt_ops.check_open(s, attempt, _now()):
            return _question_page(attempt, attempt_ops.next_item(attempt))
        if attempt.finished_at is None:
            abort(409, description="这名坐席还在作答，完成后才能查看结果。")
        return render_template("training/attempt_result.html", attempt=attempt, quiz=attempt.quiz,
                               answers={a.item_id: a for a in attempt.answers}, owner=is_owner)


def _question_page(attempt: Attempt, item, error: str | None = None, form=None, status: int = 200):
    page = render_template("training/take.html", attempt=attempt, quiz=attempt.quiz, item=item, snap=item.snapshot,
                           error=error, form=form or {}, time_left=attempt_ops.time_left(attempt, _now()),
                           done=len(attempt.answers))
    return page, status


@bp.post("/attempts/<int:attempt_id>/answer")
@require_role(*AGENT)
def answer(attempt_id: int):
    try:
        item_id = int(request.form.get("item", ""))
    except ValueError:
        abort(400, description="item must be a question number")
    with get_db().session() as s:
        attempt = _get_or_404(s, Attempt, attempt_id)
        if attempt.username != _username():
            abort(403, description="这不是你的测验记录。")
        try:
            record = attempt_ops.answer(s, attempt, item_id, request.form, _now())
        except bank.TrainingError as exc:
            item = attempt_ops.next_item(attempt)
            if attempt.finished_at is not None or item is None or item.id != item_id:
                flash(str(exc))
                return redirect(url_for(".attempt", attempt_id=attempt.id))
            return _question_page(attempt, item, str(exc), request.form, 400)
        if attempt.quiz.feedback == "each":
            return redirect(url_for(".feedback", attempt_id=attempt.id, position=record.position))
        return redirect(url_for(".attempt", attempt_id=attempt.id))


@bp.get("/attempts/<int:attempt_id>/feedback/<int:position>")
@require_role(*AGENT)
def feedback(attempt_id: int, position: int):
    with get_db().session() as s:
        attempt = _get_or_404(s, Attempt, attempt_id)
        if attempt.username != _username():
            abort(403, description="这不是你的测验记录。")
        if attempt.quiz.feedback != "each" and attempt.finished_at is None:
            abort(403, description="这份测验在全部答完后才显示答案。")
        record = next((a for a in attempt.answers if a.position == position), None)
        if record is None:
            abort(404, description="这道题还没有作答。")
        attempt_ops.check_open(s, attempt, _now())
        return render_template("training/feedback.html", attempt=attempt, quiz=attempt.quiz, record=record,
                               snap=record.item.snapshot, finished=attempt.finished_at is not None)
