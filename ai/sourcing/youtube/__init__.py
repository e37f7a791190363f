"""YouTube and subtitle transcripts as passages (and conversations when speakers are labelled).

``read_source`` is the pipeline entry for ``kind: youtube`` sources. ``path`` names subtitle files or
directories (VTT, SRT, SBV, JSON3, timed XML, plain text); ``options.videos`` / ``options.playlists``
name videos to fetch online. Every file or video yields records or a Rejection with the reason.
"""

from __future__ import annotations

import fnmatch
import glob
import itertools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from ai.core.config import ConfigError, SourceConfig
from ai.core.paths import is_inside
from ai.core.records import Conversation, Passage
from ai.core.stage import Rejection
from ai.sourcing.extraction_output import ExtractionSummary, write_records
from ai.sourcing.youtube.cleanup import clean_cues
from ai.sourcing.youtube.formats import (
    ParsedTranscript,
    TranscriptError,
    decode_bytes,
    detect_format,
    parse_transcript,
)
from ai.sourcing.youtube.online import (
    RateLimiter,
    TranscriptCache,
    TranscriptFetcher,
    default_cache_dir,
    playlist_id_from,
    video_id_from,
)
from ai.sourcing.youtube.segment import (
    DEFAULT_SPEAKER_ROLES,
    TranscriptOrigin,
    transcript_conversation,
    transcript_passages,
)

STAGE = "ingest"
# Language codes and rendering markers that yt-dlp style names put between the title and the extension.
_TITLE_SUFFIX = re.compile(r"^\.(?:[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*|clean|auto|orig)$")
TranscriptRecord = Passage | Conversation | Rejection

__all__ = [
    "TranscriptFetcher",
    "YouTubeOptions",
    "extract_transcript_files",
    "extract_transcripts_to_jsonl",
    "extract_videos",
    "find_transcript_files",
    "read_source",
    "transcript_file_records",
    "youtube_options",
]


class YouTubeOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options:`` of a ``kind: youtube`` source."""

    target_chars: int = 1000
    overlap_chars: int = 150
    languages: list[str] = msgspec.field(default_factory=lambda: ["en"])
    videos: list[str] = msgspec.field(default_factory=list)  # ids or URLs
    playlists: list[str] = msgspec.field(default_factory=list)  # ids or URLs
    requests_per_second: float = 0.5
    cache_dir: str = ""  # default: $DATASET_PIPELINE_HOME/cache/youtube
    use_ytdlp: bool = True  # fall back to yt-dlp subtitles when the transcript API fails
    exclude: list[str] = msgspec.field(default_factory=lambda: ["*LICENSE*", "*README*", "PROVENANCE*", ".*"])
    max_file_bytes: int = 50_000_000
    keep_sound_tags: bool = False
    conversations: bool = True  # speaker-labelled transcripts also become conversations
    speaker_roles: dict[str, str] = msgspec.field(default_factory=lambda: dict(DEFAULT_SPEAKER_ROLES))
    first_speaker_role: str = "client"  # role of the first voice when turns are only '>>' marks

    def __post_init__(self) -> None:
        if self.target_chars <= 0 or not 0 <= self.overlap_chars < self.target_chars:
            raise ValueError("need target_chars > 0 and 0 <= overlap_chars < target_chars")
        if self.first_speaker_role not in ("client", "therapist"):
            raise ValueError("first_speaker_role must be 'client' or 'therapist'")
        bad = sorted(k for k, v in self.speaker_roles.items() if v not in ("client", "therapist", "system"))
        if bad:
            raise ValueError(f"speaker_roles {bad} must map to client, therapist or system")


def youtube_options(raw: dict[str, Any], source_name: str = "youtube") -> YouTubeOptions:
    try:
        return msgspec.convert(raw, YouTubeOptions, strict=False)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"sources[{source_name}].options: {exc}") from None


def read_source(source: SourceConfig, base_dir: Path) -> Iterator[TranscriptRecord]:
    options = youtube_options(source.options, source.name)
    roots = [_resolve(path, base_dir) for path in source.paths() if path]
    yield from extract_transcript_files(roots, options, source.name, source.license, source.category)
    if options.videos or options.playlists:
        cache_dir = _resolve(options.cache_dir, base_dir) if options.cache_dir else default_cache_dir()
        yield from extract_videos(
            transcript_fetcher(options, cache_dir), options, source.name, source.license, source.category
        )


def extract_transcript_files(
    roots: Iterable[Path],
    options: YouTubeOptions,
    source_name: str = "youtube",
    license: str = "",
    category: str = "therapeutic",
) -> Iterator[TranscriptRecord]:
    for root in roots:
        files = find_transcript_files(root, options.exclude)
        if not files:
            message = f"{root}: no transcript files found there"
            yield Rejection(stage=STAGE, reason="path_not_found", message=message, locator=str(root))
        for path, display in files:
            origin = TranscriptOrigin(
                source_name, {"file": display}, display, _title(path), license, category=category
            )
            yield from transcript_file_records(path, origin, options)


def find_transcript_files(root: Path, exclude: Iterable[str]) -> list[tuple[Path, str]]:
    """(path, name relative to the root), sorted; directory walks skip the ``exclude`` name patterns."""
    patterns = list(exclude)
    if any(ch in str(root) for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(str(root), recursive=True))
        return [(p, p.name) for p in matches if p.is_file() and not _excluded(p.name, patterns)]
    if root.is_file():
        return [(root, root.name)]
    if not root.is_dir():
        return []
    # A symlink leading out of the directory (say, to a secrets file) is not followed.
    found = (
        p for p in root.rglob("*") if p.is_file() and not _excluded(p.name, patterns) and is_inside(p, root)
    )
    return [(p, p.relative_to(root).as_posix()) for p in sorted(found)]


def transcript_file_records(
    path: Path, origin: TranscriptOrigin, options: YouTubeOptions
) -> list[TranscriptRecord]:
    display = origin.uri
    try:
        size = path.stat().st_size
        if size > options.max_file_bytes:
            raise TranscriptError(
                "too_large", f"{size:,} bytes, over the limit of {options.max_file_bytes:,}"
            )
        text, encoding = decode_bytes(path.read_bytes())
        fmt = detect_format(path.suffix, text)
        parsed = parse_transcript(text, fmt)
    except TranscriptError as exc:
        return [
            Rejection(stage=STAGE, reason=exc.reason, message=f"{display}: {exc.message}", locator=display)
        ]
    except OSError as exc:
        message = f"{display}: cannot be read ({exc.strerror or exc})"
        return [Rejection(stage=STAGE, reason="unreadable", message=message, locator=display)]
    origin.meta = {"format": parsed.format, "encoding": encoding}
    return transcript_records(parsed, origin, options)


def extract_videos(
    fetcher: TranscriptFetcher,
    options: YouTubeOptions,
    source_name: str = "youtube",
    license: str = "",
    category: str = "therapeutic",
) -> Iterator[TranscriptRecord]:
    for video_id, reference in _video_ids(fetcher, options):
        if isinstance(reference, Rejection):
            yield reference
            continue
        uri = f"https://www.youtube.com/watch?v={video_id}"
        origin = TranscriptOrigin(
            source_name, {"video_id": video_id}, uri, video_id, license, category=category
        )
        try:
            parsed = fetcher.fetch(video_id)
        except TranscriptError as exc:
            yield Rejection(
                stage=STAGE, reason=exc.reason, message=exc.message, locator=f"youtube:{video_id}"
            )
            continue
        origin.meta = {"format": parsed.format}
        yield from transcript_records(parsed, origin, options)


def transcript_records(
    parsed: ParsedTranscript, origin: TranscriptOrigin, options: YouTubeOptions
) -> list[TranscriptRecord]:
    """Passages (and a conversation) from one parsed transcript, plus its cue-level problems."""
    name = origin.uri if "file" in origin.key else f"youtube:{origin.group}"
    origin.language = origin.language or parsed.language
    records: list[TranscriptRecord] = [
        Rejection(stage=STAGE, reason=reason, message=f"{name}: {message}", locator=f"{name}:{line}")
        for reason, message, line in parsed.problems
    ]
    cues = clean_cues(parsed.cues, options.keep_sound_tags)
    if not cues:
        why = "no cues could be read" if parsed.problems or not parsed.cues else "every cue is empty"
        records.append(
            Rejection(stage=STAGE, reason="empty_transcript", message=f"{name}: {why}", locator=name)
        )
        return records
    records.extend(transcript_passages(cues, origin, options.target_chars, options.overlap_chars))
    if options.conversations:
        conversation = transcript_conversation(
            cues, origin, options.speaker_roles, options.first_speaker_role
        )
        if conversation is not None:
            records.append(conversation)
    return records


def _video_ids(fetcher: TranscriptFetcher, options: YouTubeOptions) -> Iterator[tuple[str, str | Rejection]]:
    seen: set[str] = set()
    for reference in options.videos:
        video_id = video_id_from(reference)
        if not video_id:
            message = f"{reference!r} is not a YouTube video id or URL"
            yield "", Rejection(stage=STAGE, reason="invalid_video_id", message=message, locator=reference)
        elif video_id not in seen:
            seen.add(video_id)
            yield video_id, reference
    for reference in options.playlists:
        playlist = playlist_id_from(reference) or reference
        try:
            ids = fetcher.playlist_video_ids(f"https://www.youtube.com/playlist?list={playlist}")
        except TranscriptError as exc:
            yield "", Rejection(stage=STAGE, reason=exc.reason, message=exc.message, locator=reference)
            continue
        for video_id in ids:
            if video_id not in seen:
                seen.add(video_id)
                yield video_id, reference


def _title(path: Path) -> str:
    """Video title from a yt-dlp style file name ('Title.en.vtt', 'Title.en.clean.vtt' -> 'Title')."""
    stem = path.stem
    while True:
        suffix = Path(stem).suffix
        if not suffix or not _TITLE_SUFFIX.match(suffix):
            break
        stem = stem[: -len(suffix)]
    return stem.replace("_", " ").strip() or path.name


def _excluded(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def _resolve(path: str, base_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path(base_dir) / candidate


def extract_transcripts_to_jsonl(
    inputs: list[Path],
    out: Path,
    options: YouTubeOptions | None = None,
    conversations_out: Path | None = None,
    quarantine_out: Path | None = None,
    fetcher: TranscriptFetcher | None = None,
    source_name: str = "youtube",
) -> ExtractionSummary:
    """Passages of every transcript under ``inputs`` (and of ``options.videos``/``playlists``) into ``out``."""
    options = options or YouTubeOptions()
    records = extract_transcript_files(inputs, options, source_name)
    if options.videos or options.playlists:
        cache_dir = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
        fetcher = fetcher or transcript_fetcher(options, cache_dir)
        records = itertools.chain(records, extract_videos(fetcher, options, source_name))
    return write_records(records, out, conversations_out=conversations_out, quarantine_out=quarantine_out)


def transcript_fetcher(options: YouTubeOptions, cache_dir: Path) -> TranscriptFetcher:
    """The online fetcher for ``options.videos``/``playlists``: cached, rate limited, yt-dlp if asked."""
    return TranscriptFetcher(
        options.languages,
        cache=TranscriptCache(cache_dir),
        limiter=RateLimiter.per_second(options.requests_per_second),
        use_ytdlp=options.use_ytdlp,
    )
