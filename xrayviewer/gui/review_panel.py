"""The reviewer's side panel: the four decision keys, a note, and whether the decision is saved.

The panel only asks for decisions (`decision_requested`); the main window records them in the agreement
log and calls `show_saved` only after the log has committed, so "Saved" on screen always means on disk.
An unreadable film has no model call: the reader may mark it non-diagnostic or recall it (a new film).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from xrayviewer.common.vocab import Label, Status
from xrayviewer.gui.style import muted
from xrayviewer.review import LoggedDecision
from xrayviewer.review.log import NON_DIAGNOSTIC, RECALL, LoggedUnreadable
from xrayviewer.review.session import FilmItem, Verdict


class ReviewPanel(QWidget):
    """Decision buttons mirror the keyboard: A agree, D disagree, N normal, P pneumonia."""

    decision_requested = Signal(str)  # a Verdict or Label value: "agree" | "disagree" | "NORMAL" | "PNEUMONIA"
    unreadable_requested = Signal(str)  # NON_DIAGNOSTIC | RECALL, for a film that cannot be read
    change_reviewer = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reviewer_label = QLabel()
        self.reviewer_button = QPushButton("Change…")
        self.reviewer_button.setToolTip("Change the reader whose name is recorded with each decision")
        self.reviewer_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.reviewer_button.clicked.connect(self.change_reviewer)

        self.buttons: dict[Verdict | Label, QPushButton] = {}
        grid = QGridLayout()
        specs: list[tuple[Verdict | Label, str, int, int]] = [
            (Verdict.AGREE, "&Agree with model  [A]", 0, 0),
            (Verdict.DISAGREE, "&Disagree  [D]", 0, 1),
            (Label.NORMAL, "Label &NORMAL  [N]", 1, 0),
            (Label.PNEUMONIA, "Label &PNEUMONIA  [P]", 1, 1),
        ]
        for key, text, row, col in specs:
            button = QPushButton(text.replace("&", ""))
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the window's shortcuts
            button.clicked.connect(lambda _=False, k=key: self.decision_requested.emit(str(k)))
            grid.addWidget(button, row, col)
            self.buttons[key] = button

        self.unreadable_buttons: dict[str, QPushButton] = {}
        for col, (kind, text, tip) in enumerate((
                (NON_DIAGNOSTIC, "Non-diagnostic  [Shift+N]", "The film cannot be read: not diagnostic"),
                (RECALL, "Recall  [Shift+R]", "The film cannot be read: recall the patient for a new film"))):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, k=kind: self.unreadable_requested.emit(k))
            grid.addWidget(button, 2, col)
            self.unreadable_buttons[kind] = button

        self.note = QLineEdit()
        self.note.setPlaceholderText("Optional note saved with the next decision")
        self.note.setClearButtonEnabled(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setObjectName("reviewStatus")
        self.last_saved = QLabel()
        self.last_saved.setWordWrap(True)
        self.last_saved.setObjectName("lastSaved")
        self.history = QLabel()
        self.history.setWordWrap(True)
        self.history.setObjectName("reviewHistory")
        self.history.setTextFormat(Qt.TextFormat.PlainText)

        who = QGridLayout()
        who.addWidget(QLabel("Reader:"), 0, 0)
        who.addWidget(self.reviewer_label, 0, 1, 1, 1)
        who.addWidget(self.reviewer_button, 0, 2)
        who.setColumnStretch(1, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(who)
        layout.addLayout(grid)
        layout.addWidget(self.note)
        layout.addWidget(self.status)
        layout.addWidget(self.last_saved)
        layout.addWidget(self.history)
        layout.addStretch(1)
        keys = QLabel("<small>Keys: <b>A</b> agree · <b>D</b> disagree · <b>N</b> normal · <b>P</b> pneumonia"
                      "<br/><b>J</b>/<b>K</b> or arrows: next/previous · <b>H</b> heat map · <b>F</b> fit · "
                      "Ctrl+N note<br/>View: <b>I</b> invert · <b>R</b>/<b>L</b> rotate · <b>X</b>/<b>Y</b> flip · "
                      "<b>1</b>-<b>9</b>/<b>0</b> window/reset · <b>Z</b> 1:1 · <b>M</b> ruler</small>")
        muted(keys)
        keys.setWordWrap(True)
        layout.addWidget(keys)
        self.set_reviewer("")
        self.show_item(None)

    def set_reviewer(self, name: str, blinded: bool = False) -> None:
        unset = "<i>not chosen: asked at the first decision</i>"
        mode = " <span style='color:#94a3b8'>(blinded)</span>" if blinded and name else ""
        self.reviewer_label.setText(f"<b>{html.escape(name)}</b>{mode}" if name else unset)

    def show_item(self, item: FilmItem | None, can_record: bool = True, why_not: str = "") -> None:
        """Enable what makes sense for this film and show its saved state."""
        scored = item is not None and item.status == Status.OK and can_record
        out = item is not None and item.out_of_scope
        unreadable = item is not None and item.status == Status.ERROR and can_record
        for key, button in self.buttons.items():
            button.setEnabled(scored and not (out and isinstance(key, Verdict)))  # no call to agree with
        for button in self.unreadable_buttons.values():
            button.setVisible(item is not None and item.status == Status.ERROR)
            button.setEnabled(unreadable)
        if item is None:
            self.status.setText("Select a film to review it.")
        elif item.status == Status.ERROR and (u := item.unreadable_decision) is not None:
            self.show_saved_unreadable(u)
        elif unreadable:
            self.status.setText("<span style='color:#f5a524'>Unreadable: the model made no call. Mark it "
                                "non-diagnostic (Shift+N) or recall it for a new film (Shift+R).</span>")
        elif scored and out and item.decision is None:
            self.status.setText("<span style='color:#94a3b8'>Out of scope: the model made no call "
                                f"({html.escape(item.scope_reason)}). You may still label it: N or P.</span>")
        elif not scored:
            self.status.setText(why_not or "Only scored films can be reviewed: the decision is logged "
                                "against the model's call.")
        elif (decision := item.decision) is None:
            self.status.setText("<span style='color:#9ca3af'>Not reviewed yet.</span>")
        else:
            self.show_saved(decision)
        if item is not None and item.borderline and item.judged:
            self.status.setText(self.status.text() + "<br/><span style='color:#f5a524'>≈ Borderline call: the "
                                "probability is close to the threshold; the model is unsure.</span>")

    def show_saved_unreadable(self, d: LoggedUnreadable) -> None:
        what = "non-diagnostic" if d.decision == NON_DIAGNOSTIC else "recall for a new film"
        note = f" — note: {html.escape(d.note)}" if d.note else ""
        self.status.setText(f"<span style='color:#64748b'>✔ Saved: <b>{what}</b> (unreadable film)</span>"
                            f"<br/><small>{html.escape(d.reviewer)}, {d.decided_at_utc}{note}</small>")

    def show_saved(self, d: LoggedDecision) -> None:
        verdict = "agrees with the model" if d.agrees else f"disagrees with the model ({d.model_call})"
        colour = "#3b82f6" if d.agrees else "#d946ef"
        if not d.in_scope:
            verdict, colour = "your label (out of scope: no model call)", "#64748b"
        note = f" — note: {html.escape(d.note)}" if d.note else ""
        self.status.setText(f"<span style='color:{colour}'>✔ Saved: <b>{d.decision}</b>, {verdict}</span>"
                            f"<br/><small>{html.escape(d.reviewer)}, {d.decided_at_utc}{note}</small>")

    def show_last_saved(self, name: str, d: LoggedDecision) -> None:
        """After auto-advance the saved film is off screen: confirm it here."""
        verdict = "agrees with the model" if d.agrees else "disagrees with the model"
        if not d.in_scope:
            verdict = "out of scope: your label"
        self.last_saved.setText(f"<small>Last saved: {name} → <b>{d.decision}</b> ({verdict})</small>")

    def show_unsaved(self, message: str) -> None:
        self.status.setText(f"<span style='color:#f5a524'>✘ NOT saved: {message}</span>")

    def show_history(self, rows: list[LoggedDecision], hidden: int = 0) -> None:
        blinded = (f"Blinded: {hidden} decision{'s' if hidden != 1 else ''} by other readers on this film "
                   "stay hidden until you have decided it." if hidden else "")
        if not rows:
            self.history.setText(blinded)
            return
        lines = [f"{d.decided_at_utc[:16].replace('T', ' ')}  {d.reviewer}: {d.decision}"
                 f"{'' if d.agrees else (' (out of scope)' if not d.in_scope else ' (disagreed)')}"
                 for d in rows[-5:]]
        self.history.setText("History:\n" + "\n".join(lines) + (f"\n{blinded}" if blinded else ""))

    def take_note(self) -> str:
        return self.note.text().strip()

    def clear_note(self) -> None:
        self.note.clear()
