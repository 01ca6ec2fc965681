"""How a name, a document number or a phone number is spelt, reduced to what does not vary.

People search (search.py) compares what a caseworker types with what the
referral recorded, without either ever being stored in plaintext: both sides
go through these functions, and only keyed hashes of the results are kept.
So they decide which spellings count as one:

- case and accents: ``normalised_words("JOSÉ MARÍA")`` is ``["jose", "maria"]``
  (Unicode NFKD, combining marks dropped, casefolded: ñ is n, ç is c, ü is u);
- compound family names and punctuation: "García-López", "Garcia Lopez" and
  "garcía  lópez" are the same two words; "D'Ávila" is "avila";
- particles: "de", "de la", "del", "dos", "da", "e", "y" ... are dropped, so
  "Maria dos Santos" and "Maria Santos", "Juan de la Cruz" and "Juan Cruz"
  are the same words (``PARTICLES``);
- what sounds alike in Spanish and Portuguese (``phonetic``): b/v, ll/y/lh,
  z/s/soft c, silent h, qu/k/hard c, soft g/j, x at the start (Ximena/Jimena,
  Xavier/Javier), nh/ñ, ph/f, doubled letters;
- transliteration (``skeleton``): Mohammed/Muhammad/Mohamed, Youssef/Yusuf
  differ in their vowels only, which transliterations of Arabic and other
  scripts do not agree on: the consonants, after the phonetic rules, are one
  more, looser key.

A maintained phonetic library (jellyfish: Soundex, Metaphone, NYSIIS) encodes
English pronunciation: Metaphone keeps "v" apart from "b" and "ll" apart from
"y", turns "j" and soft "g" into different codes and reads "ch" and "x" the
English way, and Soundex keeps the first letter, so Vásquez/Básquez and
Jiménez/Giménez never meet. The rules that matter here are the Spanish and
Portuguese ones, which are short enough to state below, one line each, with
the examples they are for (tests/test_spelling.py tries each of them).
Scripts other than Latin are not transliterated: a name written in Arabic
script matches the same name written in Arabic script only.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# Connecting words of Spanish and Portuguese names (and the Italian, French, Dutch and
# German ones that reach Latin America with family names), dropped wherever they stand:
# registrars and people themselves write them, or not, or glue them ("Dasilva").
PARTICLES: Final = frozenset(
    {
        "d", "da", "das", "de", "del", "della", "der", "di", "do", "dos", "du",
        "e", "el", "i", "l", "la", "las", "le", "lo", "los", "van", "von", "y",
    }
)  # fmt: skip

# Applied in order to one word (lowercase, unaccented); each says which spellings meet.
_RULES: Final[tuple[tuple[str, str], ...]] = (
    (r"ph", "f"),  # Raphael / Rafael
    (r"^x(?=[aeiou])", "j"),  # Ximena / Jimena, Xavier / Javier (x before a vowel at the start)
    (r"[cs]h", "C"),  # Chaves / Shaves (ch and sh: one sound of their own, C)
    (r"lh", "y"),  # Carvalho / Carvallo (Portuguese lh is Spanish ll)
    (r"nh", "n"),  # Magalhães... Sequeira / Senhora: nh is ñ, and ñ is n already
    (r"ll", "y"),  # Castillo / Castiyo (yeísmo)
    (r"h", ""),  # Hernández / Ernández, Thiago / Tiago (h is silent once ch, lh, nh are read)
    (r"qu(?=[ei])", "k"),  # Quintero / Kintero
    (r"g(?=[ei])", "j"),  # Giménez / Jiménez, Gerardo / Jerardo
    (r"gu(?=[ei])", "g"),  # Guillermo / Gillermo: the u only hardens the g (after the soft g)
    (r"c(?=[ei])", "s"),  # Cecilia / Sesilia (seseo)
    (r"[cqk]", "k"),  # Carlos / Karlos, Quispe: the hard c
    (r"z", "s"),  # González / Gonzales, Souza / Sousa, Luiz / Luis
    (r"[vw]", "b"),  # Vásquez / Básquez, Wilmer / Vilmer
    (r"y", "i"),  # Yolanda / Iolanda, Eloy / Eloi, Maya / Maia
    (r"(.)\1+", r"\1"),  # Mattos / Matos, Rossi / Rosi, Castiyo / Castillo (after ll -> y)
)
_COMPILED: Final = tuple((re.compile(pattern), repl) for pattern, repl in _RULES)
_VOWELS: Final = re.compile(r"[aeiou]")
_DOUBLED: Final = re.compile(r"(.)\1+")
_NOT_A_LETTER: Final = re.compile(r"[^\w]|[\d_]")
_NOT_ALPHANUMERIC: Final = re.compile(r"[^0-9a-z]")
_NOT_A_DIGIT: Final = re.compile(r"\D")
# A skeleton of fewer consonants than this matches too many unrelated names to be a key.
MIN_SKELETON: Final = 3
# The last digits of a phone number identify it with or without its country and area
# codes ("+502 5555 0199" and "5555-0199"): national numbers have 8 or more digits.
PHONE_DIGITS: Final = 8
MIN_DOCUMENT: Final = 4


def unaccented(text: str) -> str:
    """Casefolded, without diacritics: 'Gonçalves PEÑA' -> 'goncalves pena'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalised_words(name: str) -> list[str]:
    """The words of a name that identify someone: unaccented, split at anything that is not
    a letter (hyphens, apostrophes, dots), initials and particles dropped (unless the name
    is nothing else), each word once."""
    # A lone letter is an initial (or what remains of "D'"): it tells no one apart.
    words = [w for w in _NOT_A_LETTER.sub(" ", unaccented(name)).split() if len(w) > 1]
    # A name of particles only ("De La") keeps them: they are all it has.
    kept = [w for w in words if w not in PARTICLES] or words
    return list(dict.fromkeys(kept))


def phonetic(word: str) -> str:
    """How a normalised word sounds in Spanish or Portuguese: 'vasquez' -> 'basques'."""
    for pattern, repl in _COMPILED:
        word = pattern.sub(repl, word)
    return word


def skeleton(word: str) -> str | None:
    """The first letter and the consonants of the word's phonetic code, or None when that is
    too short to tell names apart (``MIN_SKELETON``): 'mohammed' and 'muhammad' -> 'mmd'."""
    code = phonetic(word)
    bones = code[:1] + _DOUBLED.sub(r"\1", _VOWELS.sub("", code[1:]))
    return bones if len(bones) >= MIN_SKELETON else None


def document_number(number: str) -> str:
    """Letters and digits only, unaccented: 'bo-123 4567' -> 'bo1234567'."""
    return _NOT_ALPHANUMERIC.sub("", unaccented(number))


def phone_number(number: str) -> str:
    """The last ``PHONE_DIGITS`` digits: '+502 5555-0199' and '5555 0199' -> '55550199'."""
    return _NOT_A_DIGIT.sub("", number)[-PHONE_DIGITS:]
