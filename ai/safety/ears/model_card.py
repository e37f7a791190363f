"""MODEL_CARD.md for the EARS judge, written from the metadata ``train.py`` measured."""

from __future__ import annotations

from typing import Any

from ai.safety.ears.judge import PRIOR_MICO, PRIOR_MIIN

PART_SOURCES = {
    "empathize": "EPITOME emotional reactions (level >= 1); MI gold 'Support'",
    "acknowledge": "MI gold 'Affirm'",
    "reflect": "AnnoMI reflections (majority of annotators); EPITOME interpretations (level >= 1); MI gold simple/complex reflections",
    "support": "EPITOME explorations (level >= 1); AnnoMI open questions; MI gold open question, advise with permission, emphasize autonomy; MI advise rewrites",
    "directive": "MI gold advise without permission, confront, direct, warn; MI advise originals (counts against a reply)",
}


def render_model_card(meta: dict[str, Any]) -> str:
    shipped = meta["shipped"]
    lines = [
        f"# EARS judge `{meta['name']}` {meta['version']}",
        "",
        "Scores how well a reply to a client empathizes, acknowledges, reflects and supports, from human labels.",
        "Rebuild: `uv run python -m ai.safety.ears.train` (a few minutes on 2 cores; this card is written by it).",
        "",
        "## Model",
        "",
        "One logistic regression per part over features of the (client text, reply) pair: the reply's word",
        "1-2-grams with the words that mirror the client's content replaced by `echo`, hashed into",
        f"{meta['n_features']:,} buckets (a bigram's bucket mixes its two words' MurmurHash3 values),",
        f"and {len(meta['dense_features'])} dense pair features (mirrored content words, focus, length, question",
        "marks, person, which rubric rules matched). Weights: `ears_linear.npz` (numpy, loaded with",
        "`allow_pickle=False`), metadata `ears_linear.json`. Inference needs numpy, scipy and mmh3, not scikit-learn.",
        "A reply scores engagement x (mean of the four part probabilities) x (1 - 0.5 x directive probability),",
        "where engagement = 0.15 + 0.85 x min(1, client content words (5-letter stems) the reply takes up / 2);",
        "a conversation scores the engagement-weighted mean of its replies (sum of scores / max(1, sum of engagement))",
        f"times its MI consistency, ({PRIOR_MICO:g} + MICO) / ({PRIOR_MICO:g} + MICO + {PRIOR_MIIN:g} + MIIN) with MICO "
        "the sum over replies of the four",
        "part probabilities and MIIN the sum of the directive probabilities (MISC 2.1's %MI-consistent, starting",
        "from a hand-set prior worth one MI-consistent reply).",
        "",
        "| part | labels | C |",
        "|---|---|---|",
        *[f"| {p} | {PART_SOURCES[p]} | {meta['regularisation'][p]:g} |" for p in meta["components"]],
        "",
        "Training pairs per source and part:",
        "",
        "| source | part | labels |",
        "|---|---|---|",
        *[f"| {s} | {p} | {c} |" for s, parts in meta["training_pairs"].items() for p, c in parts.items()],
        "",
        f"Data digest (sha256 of the training pairs): `{meta['data_sha256']}`.",
        "",
        "## Validation (AUC with bootstrap 95% CI)",
        "",
        "Within the pooled data, 5 folds by group (AnnoMI transcript, EPITOME seeker post, MI sentence):",
        "",
        "| part | source | AUC | 95% CI | n (positives) |",
        "|---|---|---|---|---|",
        *_auc_rows(meta["cross_validation"]),
        "",
        "Across sources (fitted without the source it is measured on; transfer between AnnoMI's spoken MI and",
        "EPITOME's Reddit replies is poor, which is why the shipped model is fitted on all of them):",
        "",
        "| part | held-out source | AUC | 95% CI | n (positives) |",
        "|---|---|---|---|---|",
        *_auc_rows(meta["cross_source"]),
        "",
        "AnnoMI complex vs simple reflection (out-of-fold reflect probability): "
        + _auc_text(meta["complex_vs_simple_reflection"]),
        "",
        "AnnoMI sessions, high (110) vs low (23) MI quality, conversation score (nothing is fitted on these labels):",
        "",
        "| parts fitted | conversation score (EARS x MI consistency) | EARS factor alone | MI consistency alone |",
        "|---|---|---|---|",
        *[
            f"| {label} | {_auc_text(meta['sessions'][key])} | {_auc_text(meta['sessions'][key + '_ears_only'])} "
            f"| {_auc_text(meta['sessions'][key + '_mi_consistency_only'])} |"
            for label, key in (
                ("without the transcript's fold (5 folds by transcript)", "by_transcript"),
                ("without any AnnoMI utterance", "without_annomi"),
            )
        ],
        "",
        "The shipped model (fitted on everything, so AnnoMI figures here are in-sample):",
        f"ESConv seeker empathy rating vs conversation score: Spearman {shipped['esconv_empathy']['spearman']}"
        f" (95% CI {shipped['esconv_empathy']['ci95']}, n {shipped['esconv_empathy']['n']}; ESConv is never trained on).",
        "",
        f"## Pass rates at the default threshold {shipped['threshold']}",
        "",
        "| source | n | pass rate | p5 | p25 | median | p75 |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {name} | {d['n']} | {d['pass_rate']} | {d['p5']} | {d['p25']} | {d['p50']} | {d['p75']} |"
            for name, d in shipped["pass_rates"].items()
        ],
        "",
        "## Circularity guard",
        "",
        _circularity_text(shipped["circularity"]),
        "",
        "## Limits",
        "",
        "- English only; trained on Reddit peer support (EPITOME), spoken MI demonstrations (AnnoMI) and",
        "  peer-support sentences (MI gold). Clinical psychotherapy transcripts are not represented.",
        "- Acknowledge rests on 95 'Affirm' sentences without client context: the weakest part.",
        "- The score says how EARS-like a reply is; it is not a safety check (the crisis and content judges are).",
        "",
        "## Licences of the training data",
        "",
        "EPITOME: Althoff academic licence (non-commercial research). MI gold sentences and advise rewrites",
        "(Welivita & Pu 2023): CC BY-NC-SA 3.0. AnnoMI: no licence stated (cite Wu et al. 2022). The weights are",
        "derived from non-commercial data: treat the artifact as for non-commercial research use.",
        "",
    ]
    return "\n".join(lines)


def _auc_rows(table: dict[str, dict[str, dict]]) -> list[str]:
    return [
        f"| {part} | {source} | {r['auc']} | {r['ci95']} | {r['n']} ({r['positives']}) |"
        for part, sources in table.items()
        for source, r in sources.items()
    ]


def _auc_text(result: dict[str, Any]) -> str:
    return f"AUC {result['auc']} (95% CI {result['ci95']}, n {result['n']})"


def _circularity_text(guard: dict[str, Any]) -> str:
    shares = ", ".join(f"{v:.0%}" for v in guard["stock_below_median_real"].values())
    means = ", ".join(f"{v:.3f}" for v in guard["stock_mean_score"])
    return (
        f"Three replies built from stock empathy phrases (`STOCK_REPLIES` in `validation.py`) were scored as "
        f"answers to each of {guard['questions']} counsel-chat questions with at least two real answers. "
        f"They score below the median real answer to the same question for {shares} of the questions "
        f"(mean stock scores {means}; median real answer {guard['real_median_score']:.3f})."
    )
