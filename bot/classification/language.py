"""Language detection by stopword frequency, and the stopwords that example matching ignores."""

from __future__ import annotations

from collections.abc import Sequence

from bot.classification.text import MAX_CHARS, split_words, tokenize

_STOPWORDS: dict[str, frozenset[str]] = {
    "fr": frozenset(
        split_words(
            "le la les des du un une et est je j il elle nous vous ils elles pas ne n que qui qu "
            "dans pour sur avec mon ma mes ce cette c au aux ai suis sont mais ou leur m d l y "
            "se s on trop tout rien depuis chez fait ete etre avoir tres plus votre vos notre "
            "sans lui leurs cet sa ses son moi toujours jamais"
        )
    ),
    "en": frozenset(
        split_words(
            "the and is are was were i you it my to of not have has had that this with for they "
            "we be been but or do does did don t at on me your their what when so very just no "
            "an too from would will can because after again our us get got never any"
        )
    ),
    "de": frozenset(
        split_words(
            "der die das und ist ich nicht ein eine einen mit den dem zu auf fur sie es wir ihr "
            "mein meine sehr auch aber oder wie war habe hat haben noch nach bei vom zum immer "
            "schon kein keine wurde wird mir mich sich ihnen uber"
        )
    ),
    "es": frozenset(
        split_words(
            "el los las y es que no una por para con mi muy pero lo se del al su como mas ya "
            "esta estoy fue he ha hay nos me son desde tengo porque cuando sin otra ni yo les "
            "todo nada siempre nunca"
        )
    ),
    "it": frozenset(
        split_words(
            "il lo gli di e che non un una per con mio mia sono ho ha hanno del della dei nel "
            "nella alla al molto ma anche come piu questo questa ancora sempre perche gia mi ci "
            "si da dopo tutto io sempre niente mai"
        )
    ),
    "pt": frozenset(
        split_words(
            "o os as e que nao uma um com meu minha muito mas do da dos das em no na foi tem eu "
            "isso voce para por ja ainda sempre nunca estou sao"
        )
    ),
    "nl": frozenset(
        split_words(
            "de het een en is ik niet van met dat die er op te zijn mijn maar ook nog wel geen "
            "heb heeft was naar bij voor om dan jullie altijd nooit"
        )
    ),
}
ALL_STOPWORDS = frozenset().union(*_STOPWORDS.values())
_LANG_SAMPLE_TOKENS = 3000


def detect_language_tokens(tokens: Sequence[str]) -> str:
    """detect_language() on text already tokenised (the classifier has the tokens at hand)."""
    sample = tokens[:_LANG_SAMPLE_TOKENS]
    if len(sample) < 3:
        return "und"
    hits = {lang: sum(1 for t in sample if t in words) for lang, words in _STOPWORDS.items()}
    ranked = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
    (best, best_hits), (_, second_hits) = ranked[0], ranked[1]
    # Short texts share many stopwords across languages: demand a clear lead, else "und".
    if best_hits < 2 or best_hits < 1.3 * second_hits or best_hits == second_hits:
        return "und"
    return best


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language by stopword frequency, or "und" when unclear."""
    return detect_language_tokens(tokenize(text[:MAX_CHARS]))
