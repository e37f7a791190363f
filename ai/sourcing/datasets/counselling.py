"""Counselling-specific datasets: counsel-chat, ESConv (HF and original), PsyQA and AnnoMI."""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import unescape
from html.parser import HTMLParser
from typing import Any

from ai.core.records import Conversation, Turn, content_hash, normalise_for_hash
from ai.core.stage import Rejection
from ai.sourcing.datasets.build import MalformedRow, ReadContext, tag, text_of
from ai.sourcing.datasets.mapped import ColumnMap, UtteranceRows
from ai.sourcing.datasets.rows import Row
from ai.sourcing.datasets.schema import Detectable, RowSchema, require, row_rejection

_HTML_TAG = re.compile(r"</?(p|br|div|ul|ol|li|a|strong|em|span|b|i|h\d)\b[^>]*>", re.IGNORECASE)


class CounselChat(RowSchema, Detectable):
    """One row per therapist answer; one conversation per answer, grouped by question.

    The group is a hash of the normalised question title rather than the question id, so the same
    question from two scrapes (whose ids differ) stays in one split too.
    """

    name = "counsel_chat"
    looks_like = "counsel_chat: CSV with questionID, questionTitle, questionText, answerText"

    @classmethod
    def matches(cls, data: dict[str, Any], options: dict[str, Any]) -> bool:
        return {"questionID", "questionTitle", "answerText"} <= set(data)

    def from_row(self, row: Row, ctx: ReadContext) -> list[Conversation]:
        data = row.data
        title = text_of(data.get("questionTitle"), "questionTitle").strip()
        body = text_of(data.get("questionText"), "questionText").strip()
        question = body if title and body.startswith(title) else "\n\n".join(p for p in (title, body) if p)
        answer = html_to_text(text_of(data.get("answerText"), "answerText"))
        if not question or not answer.strip():
            raise MalformedRow("empty_conversation", "the question or the answer is empty")
        topics = [data.get("topic"), *str(data.get("topics") or "").split(",")]
        meta = {k: data[k] for k in ("upvotes", "views") if str(data.get(k, "")).strip()}
        url = data.get("questionLink") or data.get("questionUrl")
        if url:
            meta["question_url"] = url
        if data.get("split"):
            meta["upstream_split"] = data["split"]
        return ctx.conversations(
            [Turn("client", question), Turn("therapist", answer)],
            row,
            source_id=f"{require(data, 'questionID', (str, int))}#{row.index}",
            group=counsel_chat_group(title or question),
            tags=[tag("topic", t) for t in topics],
            meta=meta,
        )


def counsel_chat_group(title: str) -> str:
    """The split group of a counsel-chat question, the same in every file that holds its answers."""
    return "counsel-chat:" + content_hash([normalise_for_hash(title)], 16)


class EsconvHF(RowSchema, Detectable):
    """ESConv in the Hugging Face split format: ``dialog[{text, speaker: usr|sys, strategy}]``."""

    name = "esconv"
    looks_like = "esconv: {'dialog': [{'speaker': usr|sys, 'text', 'strategy'?}], 'emotion_type', ...}"
    text_key = "text"

    @classmethod
    def matches(cls, data: dict[str, Any], options: dict[str, Any]) -> bool:
        dialog = data.get("dialog")
        return (
            isinstance(dialog, list)
            and bool(dialog)
            and isinstance(dialog[0], dict)
            and (cls.text_key in dialog[0] and "speaker" in dialog[0])
        )

    def from_row(self, row: Row, ctx: ReadContext) -> list[Conversation]:
        dialog = require(row.data, "dialog", list)
        turns, strategies = [], []
        for index, item in enumerate(dialog):
            if not isinstance(item, dict):
                raise MalformedRow("malformed_record", f"dialog turn {index} must be an object")
            turns.append(
                Turn(ctx.role(item.get("speaker")), text_of(item.get(self.text_key), f"dialog turn {index}"))
            )
            strategies.append(self.strategy(item))
        return ctx.conversations(
            turns,
            row,
            tags=[*esconv_tags(row.data), *(tag("strategy", s) for s in strategies)],
            meta=self.meta(row.data, dialog),
        )

    @staticmethod
    def strategy(item: dict[str, Any]) -> Any:
        return item.get("strategy")

    def meta(self, data: dict[str, Any], dialog: list[dict[str, Any]]) -> dict[str, Any]:
        return {k: data[k] for k in ("situation", "survey_score") if data.get(k)}


class EsconvOriginal(EsconvHF):
    """ESConv in the original GitHub format: ``dialog[{speaker: speaker|listener, annotation, content}]``.

    The seeker's per-turn ``feedback`` ratings are kept in ``meta.feedback``.
    """

    name = "esconv_original"
    looks_like = (
        "esconv_original: [{'dialog': [{'speaker': speaker|listener, 'annotation', 'content'}], ...}]"
    )
    text_key = "content"

    @staticmethod
    def strategy(item: dict[str, Any]) -> Any:
        annotation = item.get("annotation")
        return annotation.get("strategy") if isinstance(annotation, dict) else None

    def meta(self, data: dict[str, Any], dialog: list[dict[str, Any]]) -> dict[str, Any]:
        meta = super().meta(data, dialog)
        feedback = [
            item["annotation"]["feedback"]
            for item in dialog
            if isinstance(item.get("annotation"), dict) and "feedback" in item["annotation"]
        ]
        if feedback:
            meta["feedback"] = feedback
        return meta


def esconv_tags(data: dict[str, Any]) -> list[str | None]:
    tags = [
        tag("emotion", data.get("emotion_type")),
        tag("problem", data.get("problem_type")),
        tag("experience", data.get("experience_type")),
    ]
    survey = data.get("survey_score")
    seeker = survey.get("seeker") if isinstance(survey, dict) else None
    if isinstance(seeker, dict):
        tags.append(tag("empathy", seeker.get("empathy")))
    return tags


class PsyQA(RowSchema, Detectable):
    """PsyQA (Chinese): one question with several answers; one conversation per answer."""

    name = "psyqa"
    looks_like = "psyqa: {'question', 'description', 'answers': [{'answer_text', 'labels_sequence'}]}"

    @classmethod
    def matches(cls, data: dict[str, Any], options: dict[str, Any]) -> bool:
        return "question" in data and isinstance(data.get("answers"), list)

    def from_row(self, row: Row, ctx: ReadContext) -> Iterable[Conversation | Rejection]:
        data = row.data
        question = "\n\n".join(
            p
            for p in (
                text_of(data.get("question"), "question").strip(),
                text_of(data.get("description"), "description").strip(),
            )
            if p
        )
        keywords = re.split(r"[,，、]", str(data.get("keywords") or ""))
        qid = data.get("questionID", row.index)
        for index, answer in enumerate(require(data, "answers", list)):
            try:
                yield from self._answer(row, ctx, question, answer, index, qid, keywords)
            except MalformedRow as exc:
                yield row_rejection(row, MalformedRow(exc.reason, f"answer {index}: {exc.message}"))

    @staticmethod
    def _answer(
        row: Row, ctx: ReadContext, question: str, answer: Any, index: int, qid: Any, keywords: list[str]
    ) -> list[Conversation]:
        if not isinstance(answer, dict):
            raise MalformedRow("malformed_record", "must be an object")
        text = text_of(answer.get("answer_text"), "answer_text")
        if not text.strip():
            raise MalformedRow("empty_conversation", "the answer is empty")
        labels = answer.get("labels_sequence") or []
        strategies = [tag("strategy", label.get("type")) for label in labels if isinstance(label, dict)]
        return ctx.conversations(
            [Turn("client", question), Turn("therapist", text)],
            row,
            source_id=f"{qid}#{index}",
            group=f"psyqa:{qid}",
            tags=[*(tag("keyword", k) for k in keywords), *strategies],
            locator={"answer": index},
            language=ctx.language or "zh",
        )


ANNOMI_COLUMNS = ColumnMap(
    conversation="transcript_id",
    order="utterance_id",
    role="interlocutor",
    text="utterance_text",
    meta=("mi_quality", "video_title", "video_url"),
)
_ANNOMI_TAGS = {
    "topic": "topic",
    "mi_quality": "quality",
    "main_therapist_behaviour": "behaviour",
    "client_talk_type": "talk",
}


class AnnoMI(UtteranceRows, Detectable):
    """AnnoMI transcripts, one utterance per row (``full`` repeats each utterance per annotator)."""

    name = "annomi"
    looks_like = "annomi: CSV with transcript_id, utterance_id, interlocutor, utterance_text"

    def __init__(self, mapping: ColumnMap = ANNOMI_COLUMNS) -> None:
        super().__init__(mapping)

    @classmethod
    def matches(cls, data: dict[str, Any], options: dict[str, Any]) -> bool:
        return {"transcript_id", "utterance_id", "interlocutor", "utterance_text"} <= set(data)

    def dialog_group(self, key: Any, rows: list[Row], ctx: ReadContext) -> str:
        # Fixed prefix: the simple and full files hold the same transcripts and must share groups.
        return f"annomi:{key}"

    def dialog_tags(self, rows: list[Row]) -> list[str | None]:
        return [tag(name, row.data.get(column)) for row in rows for column, name in _ANNOMI_TAGS.items()]


def html_to_text(text: str) -> str:
    """Answers in the older counsel-chat scrape are HTML; flatten them to paragraphs."""
    if not _HTML_TAG.search(text):
        return text
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(unescape(data))
