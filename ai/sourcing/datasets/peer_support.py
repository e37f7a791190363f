"""Peer and everyday emotional-support datasets: EmpatheticDialogues (with EmpatheticIntents labels) and
the MI-augmented counsel-chat threads of Welivita & Pu (2023). Both store one utterance per CSV row.

The per-utterance labels of both files come from classifiers, not from people: they are kept in
``meta`` for whoever wants them, and every record's provenance says ``labels: automatic``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ai.core.records import Turn
from ai.sourcing.datasets.build import ReadContext, tag, text_of
from ai.sourcing.datasets.counselling import counsel_chat_group
from ai.sourcing.datasets.mapped import ColumnMap, UtteranceRows
from ai.sourcing.datasets.rows import Row
from ai.sourcing.datasets.schema import Detectable

AUTOMATIC_LABELS = {"labels": "automatic"}


class EmpatheticDialogues(UtteranceRows, Detectable):
    """EmpatheticDialogues as annotated by EmpatheticIntents: ``Dialog_ID, Type, Actor, Text, Label``.

    Each dialog starts with a ``situation`` row (the crowdworker's situation and the emotion they were
    asked to convey, both human), then ``utterance`` rows where the speaker is the client and the listener
    the helper. ``Label`` on utterances is the authors' BERT classifier's emotion or intent.
    """

    name = "empathetic_dialogues"
    looks_like = "empathetic_dialogues: CSV with Dialog_ID, Type (situation|utterance), Actor, Text, Label"
    locator_extra: ClassVar[dict[str, str]] = AUTOMATIC_LABELS

    def __init__(self) -> None:
        super().__init__(ColumnMap(conversation="Dialog_ID", role="Actor", text="Text"))

    @classmethod
    def matches(cls, data: dict[str, Any], options: dict[str, Any]) -> bool:
        return {"Dialog_ID", "Type", "Actor", "Text"} <= set(data)

    def utterance(self, row: Row, ctx: ReadContext) -> tuple[Any, Turn] | None:
        if _is_situation(row):
            return None
        return super().utterance(row, ctx)

    def dialog_group(self, key: Any, rows: list[Row], ctx: ReadContext) -> str:
        # "hit:4821_conv:9643": one crowdsourcing task gave two dialogs by the same pair of workers, so
        # they share a split. A fixed prefix keeps groups equal across configs naming the source apart.
        return "empatheticdialogues:" + str(key).split("_conv", 1)[0]

    def dialog_tags(self, rows: list[Row]) -> list[str | None]:
        return [tag("emotion", row.data.get("Label")) for row in rows if _is_situation(row)]

    def dialog_meta(self, rows: list[Row]) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        for row in rows:
            if _is_situation(row):
                meta["situation"] = text_of(row.data.get("Text"), "situation").strip()
                meta["prompt_emotion"] = str(row.data.get("Label") or "")
        labels = [str(row.data.get("Label") or "") for row in rows if not _is_situation(row)]
        if any(labels):
            meta["utterance_labels"] = labels
        return meta


def _is_situation(row: Row) -> bool:
    return str(row.data.get("Type", "")).strip().lower() == "situation"


class MICounselChat(UtteranceRows, Detectable):
    """Counsel-chat threads split into sentences with automatic MI codes (Welivita & Pu 2023).

    Rows: ``dialog_id, title, turn, author (speaker|listener), text`` and label columns. A thread is one
    question and one therapist answer; the answer's sentences share ``turn`` 2 and are joined back.
    Threads are grouped by question title exactly as counsel-chat itself is, so one question's answers
    from either file land in one split.
    """

    name = "mi_counsel_chat"
    looks_like = "mi_counsel_chat: CSV with dialog_id, title, turn, author, text and MI label columns"
    locator_extra: ClassVar[dict[str, str]] = AUTOMATIC_LABELS
    label_column = "Union (without disambiguities)"

    def __init__(self) -> None:
        super().__init__(ColumnMap(conversation="dialog_id", role="author", text="text", order="turn"))

    @classmethod
    def matches(cls, data: dict[str, Any], options: dict[str, Any]) -> bool:
        return {"dialog_id", "title", "turn", "author", "text"} <= set(data)

    def dialog_turns(self, utterances: list[tuple[Any, Turn]]) -> list[Turn]:
        joined: dict[Any, Turn] = {}
        for order, turn in utterances:
            before = joined.get(order)
            text = f"{before.text} {turn.text.strip()}" if before else turn.text.strip()
            joined[order] = Turn(turn.role, text)
        return [joined[k] for k in sorted(joined)]

    def dialog_group(self, key: Any, rows: list[Row], ctx: ReadContext) -> str:
        return counsel_chat_group(str(rows[0].data.get("title") or key))

    def dialog_meta(self, rows: list[Row]) -> dict[str, Any]:
        meta: dict[str, Any] = {"question_title": str(rows[0].data.get("title") or "").strip()}
        labels = [str(row.data.get(self.label_column) or "") for row in rows if _is_answer(row)]
        if any(labels):
            meta["mi_labels"] = labels
        return meta


def _is_answer(row: Row) -> bool:
    return str(row.data.get("author", "")).strip().lower() == "listener"
