"""What /triage answers. The manager commands (list, show, assign, stats...) come next."""

from __future__ import annotations

USAGE = {
    "en": (
        "*/triage* steers the verdict triage bot.\n"
        "• Verdicts posted in the intake channel open or join a case in the triage channel.\n"
        "• Click *Claim* on a case card to own it.\n"
        "• `/triage help` shows this message."
    ),
    "fr": (
        "*/triage* pilote le bot de tri des verbatims.\n"
        "• Les verbatims publiés dans le canal d'intake ouvrent ou rejoignent un dossier.\n"
        "• Cliquez sur *Prendre* dans un dossier pour en devenir responsable.\n"
        "• `/triage help` affiche ce message."
    ),
}
UNKNOWN = {
    "en": "I don't know `/triage {text}` yet.\n\n",
    "fr": "Je ne connais pas encore `/triage {text}`.\n\n",
}


def usage(lang: str, text: str) -> str:
    """Help for /triage; unknown input is named so the person sees what was not understood."""
    text = text.strip()
    help_text = USAGE.get(lang, USAGE["en"])
    if text in ("", "help", "aide"):
        return help_text
    return UNKNOWN.get(lang, UNKNOWN["en"]).format(text=text[:100]) + help_text
