"""One study under review, without Qt: the films, their scores, the reviewer's decisions and the run state.

The GUI (``gui/``) draws this and forwards user actions to it; every review rule lives here so it can be
tested in milliseconds and reused by other front ends:

* the study's :class:`FilmItem` list (discovery order) and merging scoring results into it;
* the decisions that count for the current reviewer, kept once, by film sha256 (duplicate files share one);
* the scoring run's state as :class:`RunState`;
* follow-the-top (until the reviewer picks a film, the view follows the most suspicious one);
* the next unreviewed film, and what "agree" / "disagree" mean as a label;
* the review filters (:class:`Filter`);
* who is reading, and blinded reading (other readers' decisions on a film stay hidden until this reader
  has decided it; on by default when another reader has already read the study);
* decisions on unreadable films (non-diagnostic, or recall for a new film);
* the operating threshold in force (the card's or a site threshold) applied to every call shown.

A scoring result is anything shaped like :class:`ScoredFilm` (``inference.scoring.FilmResult`` is), so
this module needs neither the engine nor onnxruntime.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Protocol

from xrayviewer.common.text import path_text
from xrayviewer.common.vocab import Label, Status, TextEnum
from xrayviewer.review.log import (
    OUT_OF_SCOPE,
    UNREADABLE_CALLS,
    AgreementLog,
    Decision,
    LoggedDecision,
    LoggedUnreadable,
    ReviewError,
    UnreadableDecision,
)


class RunState(TextEnum):
    """Where the study's scoring run stands (equal to its text: ``RunState.DONE == "done"``)."""

    IDLE = "idle"  # nothing started (no model, or no films)
    RUNNING = "running"
    CANCELLED = "cancelled"  # stopped by the reviewer; "score remaining films" resumes
    DONE = "done"
    FAILED = "failed"  # the engine failed; the message was shown


class ReviewState(TextEnum):
    UNREVIEWED = "unreviewed"
    AGREED = "agreed"
    DISAGREED = "disagreed"
    LABELLED = "labelled"  # an out-of-scope film the reader labelled: no model call to agree with
    FLAGGED = "flagged"  # an unreadable film the reader marked non-diagnostic or recall


class Verdict(TextEnum):
    """The two relative decisions (keys A and D); N and P are absolute :class:`Label` decisions."""

    AGREE = "agree"
    DISAGREE = "disagree"


#: What a decision request can be: agree / disagree with the model, or a label.
DecisionKind = Verdict | Label


def parse_kind(kind: str) -> DecisionKind:
    """``"agree"``, ``"disagree"``, ``"NORMAL"`` or ``"PNEUMONIA"`` -> its enum; ValueError otherwise."""
    for enum in (Verdict, Label):
        try:
            return enum(kind)
        except ValueError:
            continue
    raise ValueError(f"unknown decision {kind!r}")


def label_for(kind: DecisionKind | str, model_call: str) -> Label:
    """The label a decision records: agree = the model's call, disagree = its opposite, N/P as given."""
    kind = parse_kind(kind) if not isinstance(kind, (Verdict, Label)) else kind
    if kind is Verdict.AGREE:
        return Label(model_call)
    if kind is Verdict.DISAGREE:
        return Label(model_call).opposite
    return Label(kind)


class Thresholded(Protocol):
    """What re-calling films at another threshold needs (``inference.card.ModelCard`` has it)."""

    def call(self, probability: float, threshold: float | None = None) -> str: ...

    def is_borderline(self, probability: float, threshold: float | None = None) -> bool: ...


class ScoredFilm(Protocol):
    """What the session needs from a scoring result (``inference.scoring.FilmResult`` has it)."""

    path: Path
    error: str
    sha256: str
    probability: float
    prediction: str
    threshold: float
    cam: Any
    notes: list[str]
    original_size: tuple[int, int] | None
    scope: Any  # xrayviewer.scope.Scope (label, reason_text, warning_text) or None

    @property
    def ok(self) -> bool: ...


@dataclass(eq=False)
class FilmItem:
    """Everything the app knows about one film; the heavy pixels are never kept here.

    ``decision`` is looked up in the session's decisions by sha256 (one store, shared by duplicates).
    """

    path: Path
    status: Status = Status.PENDING
    probability: float = math.nan
    prediction: str = ""  # the model's call at its threshold
    threshold: float = math.nan
    error: str = ""
    sha256: str = ""
    cam: Any = None  # [h, w] float logit map, or None
    notes: list[str] = field(default_factory=list)
    original_size: tuple[int, int] | None = None
    scope_reason: str = ""  # why the scope gate refused it ('' = in scope, or not scored yet)
    warnings: str = ""  # the gate's soft flags (e.g. patient age)
    borderline: bool = False  # the call sits in the card's borderline band around the threshold
    decisions: Mapping[str, LoggedDecision] = field(default_factory=dict, repr=False)  # the session's
    unreadable_decisions: Mapping[str, LoggedUnreadable] = field(default_factory=dict, repr=False)  # by path

    @property
    def key(self) -> str:
        """The film's path as the log stores it (decisions on unreadable films are keyed by it)."""
        return path_text(str(self.path))

    @property
    def unreadable_decision(self) -> LoggedUnreadable | None:
        """The current reader's non-diagnostic / recall decision on this unreadable film, if any."""
        if self.status != Status.ERROR:
            return None
        return self.unreadable_decisions.get(self.key)

    @property
    def reviewed(self) -> bool:
        return self.decision is not None or self.unreadable_decision is not None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def decision(self) -> LoggedDecision | None:
        """The current reviewer's decision that counts, if any."""
        return self.decisions.get(self.sha256) if self.sha256 else None

    @property
    def scored(self) -> bool:
        return self.status == Status.OK

    @property
    def out_of_scope(self) -> bool:
        """Read fine but refused by the scope gate: no model call, no heat map; the reader may label it."""
        return self.status == Status.OK and self.prediction == OUT_OF_SCOPE

    @property
    def judged(self) -> bool:
        """Scored and in scope: the model made a call to agree or disagree with."""
        return self.status == Status.OK and not self.out_of_scope

    @property
    def review_state(self) -> ReviewState:
        if self.unreadable_decision is not None:
            return ReviewState.FLAGGED
        d = self.decision
        if d is None:
            return ReviewState.UNREVIEWED
        if not d.in_scope:
            return ReviewState.LABELLED
        return ReviewState.AGREED if d.agrees else ReviewState.DISAGREED

    @property
    def sort_key(self) -> float:
        """Descending order: scored by probability, then pending, then unreadable, then out of scope last."""
        if self.out_of_scope:
            return -3.0
        if self.status == Status.OK:
            return float(self.probability)
        return -1.0 if self.status == Status.PENDING else -2.0

    def apply(self, result: ScoredFilm) -> None:
        self.status = Status.OK if result.ok else Status.ERROR
        self.error = result.error
        self.sha256 = result.sha256 or self.sha256
        self.probability = result.probability
        self.prediction = result.prediction
        self.threshold = result.threshold
        self.cam = result.cam
        self.notes = list(result.notes)
        self.original_size = result.original_size
        scope = getattr(result, "scope", None)
        self.scope_reason = scope.reason_text if scope is not None and not scope.in_scope else ""
        self.warnings = scope.warning_text if scope is not None else ""
        self.borderline = bool(getattr(result, "borderline", False))


class Filter(TextEnum):
    """Which films the thumbnail list shows."""

    ALL = "all"
    UNREVIEWED = "unreviewed"
    DISAGREEMENTS = "disagreements"
    UNREADABLE = "unreadable"
    OUT_OF_SCOPE = "out-of-scope"

    @property
    def label(self) -> str:
        return _FILTER_LABELS[self]

    def accepts(self, item: FilmItem) -> bool:
        if self is Filter.ALL:
            return True
        if self is Filter.UNREADABLE:
            return item.status == Status.ERROR
        if self is Filter.OUT_OF_SCOPE:
            return item.out_of_scope
        decision = item.decision
        if self is Filter.UNREVIEWED:
            return item.status != Status.ERROR and decision is None
        return decision is not None and decision.in_scope and not decision.agrees


_FILTER_LABELS = {
    Filter.ALL: "All films",
    Filter.UNREVIEWED: "Unreviewed",
    Filter.DISAGREEMENTS: "Model / radiologist disagreements",
    Filter.UNREADABLE: "Unreadable",
    Filter.OUT_OF_SCOPE: "Out of scope (not judged by the model)",
}


@dataclass(frozen=True)
class Counts:
    total: int = 0
    scored: int = 0
    errors: int = 0
    reviewed: int = 0
    pending: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "scored": self.scored, "errors": self.errors, "reviewed": self.reviewed,
                "pending": self.pending}


class ReviewSession:
    """A study folder being reviewed by one reviewer against one model.

    ``log`` None (unavailable) or ``model_id`` None (no model) turn recording off; :meth:`why_not_review`
    says why. Methods that change items return the rows (indexes into :attr:`items`) they changed, so a
    view can repaint just those.
    """

    def __init__(self, *, log: AgreementLog | None = None, model_id: str | None = None, reviewer: str = "",
                 log_error: str = "") -> None:
        self.log = log
        self.log_error = log_error
        self.model_id = model_id
        self.reviewer = reviewer
        self.folder: Path | None = None
        self.items: list[FilmItem] = []
        self.decisions: dict[str, LoggedDecision] = {}  # current reviewer's, by sha256: the one store
        self.unreadable: dict[str, LoggedUnreadable] = {}  # current reviewer's on unreadable films, by path
        self.blinded: bool | None = None  # None: automatic (on when another reader has read this study)
        self._others_here = 0  # films of this study another reader has decided
        self.run_state = RunState.IDLE
        self.follow_top = True  # until the reviewer picks a film, show the most suspicious one
        self._row_of: dict[Path, int] = {}
        self._rows_of_sha: dict[str, list[int]] = {}

    # -- the study ------------------------------------------------------------------------------------------

    @property
    def study(self) -> str:
        """The study key decisions are logged under: the folder as text ('' before one is open)."""
        return str(self.folder) if self.folder is not None else ""

    def open(self, folder: Path, paths: Sequence[Path]) -> str:
        """Start a new study: fresh items, this reviewer's past decisions, follow the top again.

        Returns a warning for the user ('' if none), e.g. when past decisions cannot be read.
        """
        self.folder = Path(folder)
        self.items = [FilmItem(p if isinstance(p, Path) else Path(p), decisions=self.decisions,
                               unreadable_decisions=self.unreadable) for p in paths]
        self._row_of = {it.path: i for i, it in enumerate(self.items)}
        self._rows_of_sha = {}
        self.run_state = RunState.IDLE
        self.follow_top = True
        return self.load_decisions()

    def set_reviewer(self, name: str) -> str:
        """Switch reviewer: their decisions replace the previous one's. Returns a warning or ''."""
        self.reviewer = name.strip()
        return self.load_decisions()

    def load_decisions(self) -> str:
        """This reviewer's latest logged decisions for this study (by sha256). Returns a warning or ''."""
        self.decisions.clear()  # in place: every item reads these dicts
        self.unreadable.clear()
        self._others_here = 0
        if self.log is None or not self.study:
            return ""
        try:
            rows = self.log.latest(study=self.study)
            unreadable = self.log.latest_unreadable(study=self.study)
        except ReviewError as exc:
            return f"Cannot read past decisions: {exc}"
        self._others_here = len({r.sha256 for r in rows if r.reviewer != self.reviewer}
                                | {u.path for u in unreadable if u.reviewer != self.reviewer})
        if self.reviewer:
            self.decisions.update((r.sha256, r) for r in rows if r.reviewer == self.reviewer)
            self.unreadable.update((u.path, u) for u in unreadable if u.reviewer == self.reviewer)
        return ""

    # -- who is reading -------------------------------------------------------------------------------------

    def readers(self) -> list[str]:
        """Everyone who has decided anything in the log, sorted (for picking a known reader)."""
        if self.log is None:
            return []
        try:
            names = set(self.log.reviewers()) | {u.reviewer for u in self.log.latest_unreadable()}
        except ReviewError:
            return []
        return sorted(names, key=str.casefold)

    @property
    def others_have_read(self) -> int:
        """How many films of this study other readers have decided (blinded reading is on by default then)."""
        return self._others_here

    @property
    def is_blinded(self) -> bool:
        """Whether other readers' decisions are hidden until this reader has decided the film."""
        return self.blinded if self.blinded is not None else self._others_here > 0

    def row_of(self, path: Path | str) -> int | None:
        # a Path is looked up as it is: building a new one per result (10,000 of them) costs the GUI thread
        return self._row_of.get(path if isinstance(path, PurePath) else Path(path))

    def item_at(self, path: Path) -> FilmItem | None:
        row = self.row_of(path)
        return None if row is None else self.items[row]

    def rows_of_sha(self, sha256: str) -> list[int]:
        return list(self._rows_of_sha.get(sha256, []))

    def counts(self) -> Counts:
        """Films in total, scored, unreadable, reviewed by this reader and pending (one pass: a 10,000-film
        study is counted after every batch of scores)."""
        scored = errors = reviewed = 0
        decisions, unreadable = self.decisions, self.unreadable
        for it in self.items:
            status = it.status
            if status is Status.ERROR:
                errors += 1
                reviewed += it.sha256 in decisions or (bool(unreadable) and it.key in unreadable)
                continue
            scored += status is Status.OK
            reviewed += it.sha256 in decisions
        return Counts(len(self.items), scored, errors, reviewed, len(self.items) - scored - errors)

    def pending_paths(self) -> list[Path]:
        """Films not scored yet (all of them for a new study; the rest after a cancel)."""
        return [it.path for it in self.items if it.status == Status.PENDING]

    # -- merging what background work learns ------------------------------------------------------------------

    def _index_sha(self, row: int) -> None:
        sha = self.items[row].sha256
        if sha:
            rows = self._rows_of_sha.setdefault(sha, [])
            if row not in rows:
                rows.append(row)

    def apply_results(self, results: Iterable[ScoredFilm]) -> list[int]:
        """Merge scoring results; returns the rows that changed."""
        rows = []
        for r in results:
            row = self.row_of(r.path)
            if row is None:
                continue
            self.items[row].apply(r)
            self._index_sha(row)
            rows.append(row)
        return rows

    def learn_sha(self, path: Path, sha256: str) -> int | None:
        """A thumbnail or full decode learnt a film's hash (so its decision shows before scoring ends).

        Returns the row if that revealed a decision, else None.
        """
        row = self.row_of(path)
        if row is None or not sha256 or self.items[row].sha256:
            return None
        self.items[row].sha256 = sha256
        self._index_sha(row)
        return row if sha256 in self.decisions else None

    def mark_unreadable(self, path: Path, error: str) -> int | None:
        """A film that cannot be decoded for a thumbnail cannot be scored either: say so now.

        Returns the row if it changed (only a film still pending), else None.
        """
        row = self.row_of(path)
        if row is None or self.items[row].status != Status.PENDING:
            return None
        item = self.items[row]
        item.status, item.error = Status.ERROR, error
        return row

    # -- the scoring run ---------------------------------------------------------------------------------------

    def run_started(self) -> None:
        self.run_state = RunState.RUNNING

    def run_cancelled(self) -> None:
        """The reviewer asked to stop: nothing the run still sends is shown."""
        self.run_state = RunState.CANCELLED

    def run_failed(self) -> None:
        self.run_state = RunState.FAILED

    def run_finished(self, cancelled: bool) -> None:
        if cancelled:
            self.run_state = RunState.CANCELLED
        elif self.run_state is not RunState.FAILED:
            self.run_state = RunState.DONE

    # -- follow the top ------------------------------------------------------------------------------------------

    def reviewer_picked(self) -> None:
        """The reviewer chose a film: keep it, however rows re-sort."""
        self.follow_top = False

    def should_show_top(self, has_current: bool) -> bool:
        """After new scores: show the most suspicious film (still following, or nothing shown yet)."""
        return self.follow_top or not has_current

    def first_unreviewed(self, order: Iterable[FilmItem]) -> FilmItem | None:
        """The first film of ``order`` (display order) with a model call this reader has not decided."""
        return next((it for it in order if it.judged and it.decision is None), None)

    def film_to_show(self, order: Iterable[FilmItem]) -> FilmItem | None:
        """What to open while following the top: the first unreviewed film (a restarted review goes on where
        it stopped), else the first film. ``order`` may be lazy: it is read only as far as needed."""
        first: FilmItem | None = None
        for it in order:
            if first is None:
                first = it
            if it.judged and it.decision is None:
                return it
        return first

    # -- the threshold in force ----------------------------------------------------------------------------------

    def apply_threshold(self, threshold: float, card: Thresholded) -> list[int]:
        """Call every scored, in-scope film again at ``threshold`` (a site threshold accepted or reverted);
        returns the rows whose call, borderline mark or threshold changed. Decisions already logged keep the
        call they were made against."""
        rows = []
        for row, it in enumerate(self.items):
            if not it.judged:
                continue
            call = card.call(it.probability, threshold)
            borderline = card.is_borderline(it.probability, threshold)
            if (call, borderline, it.threshold) != (it.prediction, it.borderline, threshold):
                it.prediction, it.borderline, it.threshold = call, borderline, float(threshold)
                rows.append(row)
        return rows

    # -- review rules ----------------------------------------------------------------------------------------------

    def why_not_review(self, item: FilmItem | None = None) -> str:
        """Why decisions cannot be recorded (for this film), or '' when they can."""
        if self.model_id is None:
            return "Review is off: no model is loaded, so there is no model call to agree or disagree with."
        if self.log is None:
            return f"Review is off: {self.log_error}"
        if item is not None and item.status != Status.OK:
            return "Only scored films can be reviewed: the decision is logged against the model's call."
        return ""

    def why_not_agree(self, item: FilmItem | None) -> str:
        """Why agree/disagree make no sense for this film ('' when they do): an out-of-scope film has no call."""
        if item is not None and item.out_of_scope:
            return ("Out of scope: the model made no call on this film, so there is nothing to agree or disagree "
                    "with. Label it NORMAL or PNEUMONIA yourself (N / P).")
        return ""

    def next_unreviewed(self, order: Sequence[FilmItem], current: int) -> FilmItem | None:
        """The next scored, unreviewed film after position ``current`` of ``order`` (display order),
        wrapping around; None when every other film is reviewed (or unscored)."""
        n = len(order)
        start = current if 0 <= current < n else -1
        for offset in range(1, n):
            item = order[(start + offset) % n]
            if item.judged and item.decision is None:
                return item
        return None

    def decide(self, item: FilmItem, kind: DecisionKind | str, note: str = "") -> LoggedDecision:
        """Record the reviewer's decision on a scored film; returns it once the log has committed it.

        Raises ReviewError (log unavailable or failed), ValueError (no reviewer, not reviewable, bad input).
        """
        why = self.why_not_review(item)
        if why:
            raise ValueError(why)
        if not self.reviewer:
            raise ValueError("no reviewer name: the decision was not recorded")
        assert self.log is not None and self.model_id is not None  # checked by why_not_review
        if item.out_of_scope:
            kind = parse_kind(kind) if not isinstance(kind, (Verdict, Label)) else kind
            if isinstance(kind, Verdict):
                raise ValueError(self.why_not_agree(item))
            decision = Decision(
                sha256=item.sha256, path=str(item.path), study=self.study, model_id=self.model_id,
                probability=None, model_call=OUT_OF_SCOPE, threshold=float(item.threshold),
                reviewer=self.reviewer, decision=Label(kind).value, note=note, scope="out",
                scope_reason=item.scope_reason,
            )
        else:
            label = label_for(kind, item.prediction)
            decision = Decision(
                sha256=item.sha256, path=str(item.path), study=self.study, model_id=self.model_id,
                probability=float(item.probability), model_call=Label(item.prediction).value,
                threshold=float(item.threshold), reviewer=self.reviewer, decision=label.value, note=note,
            )
        logged = self.log.record(decision)  # committed when this returns
        self.decisions[logged.sha256] = logged
        return logged

    def decide_unreadable(self, item: FilmItem, kind: str, note: str = "") -> LoggedUnreadable:
        """Record a reader's decision on an unreadable film: NON_DIAGNOSTIC or RECALL (a new film is needed).

        Raises ReviewError (log unavailable or failed), ValueError (no reviewer, film readable, bad input).
        """
        if self.log is None:
            raise ValueError(f"Review is off: {self.log_error}")
        if item.status != Status.ERROR:
            raise ValueError("only an unreadable film can be marked non-diagnostic or recalled")
        if kind not in UNREADABLE_CALLS:
            raise ValueError(f"unknown decision {kind!r} for an unreadable film")
        if not self.reviewer:
            raise ValueError("no reviewer name: the decision was not recorded")
        logged = self.log.record_unreadable(UnreadableDecision(
            path=item.key, study=self.study, reviewer=self.reviewer, decision=kind, sha256=item.sha256,
            error=item.error, note=note))
        self.unreadable[logged.path] = logged
        return logged

    def history(self, item: FilmItem | None) -> list[LoggedDecision]:
        """The logged decisions on this film this reader may see, oldest first; [] when unknown or unreadable.

        Blinded, other readers' decisions stay hidden until this reader has decided the film
        (:meth:`hidden_count` says how many are hidden)."""
        rows = self._history(item)
        if self.is_blinded and item is not None and item.decision is None:
            return [d for d in rows if d.reviewer == self.reviewer]
        return rows

    def hidden_count(self, item: FilmItem | None) -> int:
        """How many other readers' decisions on this film blinded reading hides now."""
        return len(self._history(item)) - len(self.history(item))

    def _history(self, item: FilmItem | None) -> list[LoggedDecision]:
        if item is None or not item.sha256 or self.log is None:
            return []
        try:
            return self.log.history(item.sha256)
        except ReviewError:
            return []
