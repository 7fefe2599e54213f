"""The advice parser on every template wording and on free-form paraphrases."""
from __future__ import annotations

import pytest

from mixingbuddy.model.data import templates as T
from mixingbuddy.model.data.advice_parser import ParsedAdvice, parse_advice

INC, DEC = "increase", "decrease"
NOADJ = "no_adjustment"

# (text, stem, direction, magnitude (lo, hi) or None); stem == NOADJ means a no-adjustment
# statement. Written by hand: varied verbs, states, pronouns, negation, several stems named.
PARAPHRASES: list[tuple[str, str | None, str | None, tuple[float, float] | None]] = [
    ("The vocals are buried under the guitars. Push them up around 4 dB.", "vocals", INC, (4, 4)),
    ("I can barely hear the singer; bring the vox up 6-12 dB.", "vocals", INC, (6, 12)),
    ("Kick and snare are way too hot. Pull the drums back by roughly 3 to 6 dB.", "drums", DEC, (3, 6)),
    ("The bassline is overpowering everything, I'd cut it by 6 to 12 decibels.", "bass", DEC, (6, 12)),
    ("Your low end is too weak compared with the drums; boost the bass between 3 and 6 dB.", "bass", INC, (3, 6)),
    ("The drums aren't too loud. The vocals, though, need to come up 3-6 dB.", "vocals", INC, (3, 6)),
    ("Don't touch the drums. Lower the vocals by 3 to 6 dB instead.", "vocals", DEC, (3, 6)),
    ("The mix sounds great as it is, I wouldn't change anything.", NOADJ, None, None),
    ("Honestly the balance is spot on. Leave it alone.", NOADJ, None, None),
    ("Nothing is too loud or too quiet here; no changes needed.", NOADJ, None, None),
    ("There's no need to raise or lower anything: the stems sit nicely together.", NOADJ, None, None),
    ("The bass drum is a bit loud; turn the kit down 3 dB.", "drums", DEC, (3, 3)),
    ("The 808 is drowning out the vocals. Take 6 to 12 dB off the bass.", "bass", DEC, (6, 12)),
    ("Vocals get lost behind the drums. Raise the lead vocal by 6-12 dB relative to the kit.", "vocals", INC, (6, 12)),
    ("The percussion is swamped by the bass and the guitars; give the drums about 4 dB more.", "drums", INC, (4, 4)),
    ("I'd make the vocals louder, something like +3 to +6 dB.", "vocals", INC, (3, 6)),
    ("The drums should be quieter by 6 to 12 dB.", "drums", DEC, (6, 12)),
    ("The bass needs a boost of 3-6 dB; it is not loud enough against the vocals.", "bass", INC, (3, 6)),
    ("Too much bass! Bring it down by 3 to 6 dB.", "bass", DEC, (3, 6)),
    ("Not enough drums in this mix. Turn them up 6 to 12 dB.", "drums", INC, (6, 12)),
    ("The vocal doesn't cut through the mix. Increase its level by roughly 3 to 6 dB.", "vocals", INC, (3, 6)),
    ("Attenuate the vocals 6-12 dB, they dominate the track.", "vocals", DEC, (6, 12)),
    ("The drum kit is overpowering the vocals, so pull the drums down by between 6 and 12 dB.", "drums", DEC, (6, 12)),
    ("Everything sits well in the mix; leave the levels as they are.", NOADJ, None, None),
    ("The balance seems fine to me, no adjustment is necessary.", NOADJ, None, None),
    ("It's a well-balanced mix. Keep everything as it is.", NOADJ, None, None),
    ("The vocals feel a bit recessed; nudge them up by 3 dB or so.", "vocals", INC, (3, 3)),
    ("Trim the bass guitar by 4 dB; it sticks out above the kit.", "bass", DEC, (4, 4)),
    ("The beat is far too quiet under the vocals, raise it by 6 to 12 dB.", "drums", INC, (6, 12)),
    ("Voice level is too high. Reduce by three to six decibels.", "vocals", DEC, (3, 6)),
    ("The singer is too loud against the band; back the vocals off by 3-6 dB.", "vocals", DEC, (3, 6)),
    ("Compared to the drums, the bass is a little quiet. Bump the bass up 3 to 6 dB.", "bass", INC, (3, 6)),
    ("The drums are fine, but the bass is way too loud - drop it 6-12 dB.", "bass", DEC, (6, 12)),
    ("The bass is fine, but the vocals are hard to hear; lift them 6 to 12 dB.", "vocals", INC, (6, 12)),
    ("The drums are not quiet; if anything the vocals are slightly hot. Cut the vocals 3 to 6 dB.", "vocals", DEC, (3, 6)),
    ("The low end is underpowered. Add 3 to 6 dB to the bass.", "bass", INC, (3, 6)),
    ("The vocal track is masked by the drums; turn it up 3-6 dB.", "vocals", INC, (3, 6)),
    ("The mix is dominated by the drums.", "drums", DEC, None),
    ("Lower the snare and kick a bit, around 3 to 6 dB; the drums jump out too much.", "drums", DEC, (3, 6)),
    ("Bring the bass forward by 6 to 12 dB; right now it is barely audible.", "bass", INC, (6, 12)),
    ("The vocals are way too quiet.", "vocals", INC, None),
    ("The drums are too loud.", "drums", DEC, None),
    ("I would not change the balance: every stem sits at a sensible level.", NOADJ, None, None),
    ("The vocals aren't quiet at all, and the bass isn't too loud either: the mix is balanced.", NOADJ, None, None),
    ("Pull back the kit 6-12 dB and leave the vocals where they are.", "drums", DEC, (6, 12)),
    ("Keep the bass where it is and bring the vocals up by 3 to 6 dB.", "vocals", INC, (3, 6)),
    ("The vocals need more level, about 6 to 12 dB.", "vocals", INC, (6, 12)),
    ("Decrease the drum bus by 3-6 dB.", "drums", DEC, (3, 6)),
    ("The bass should sit 3 to 6 dB lower in the mix.", "bass", DEC, (3, 6)),
    ("Turn down the vocals (6-12 dB) so they stop overpowering the instruments.", "vocals", DEC, (6, 12)),
    ("Boost the drums by 6 to 12 dB, the kit is lost in the mix.", "drums", INC, (6, 12)),
    ("The lead vox is a touch too prominent; ease it back by 3 to 6 dB.", "vocals", DEC, (3, 6)),
    ("The drums are much quieter than they should be. Raise them by 6 to 12 dB.", "drums", INC, (6, 12)),
    ("There is too little low end. Turn up the bass 3-6 dB.", "bass", INC, (3, 6)),
    ("The vocals are in good balance with the rest; no level change required.", NOADJ, None, None),    # written after the rules above, as a check on wordings the rules were not tuned on
    # (first run: 20/25 and 19/20; the rules were then generalised, see the report)
    ("Honestly, the drums could stand to be a few dB quieter - say 3 to 6.", "drums", DEC, (3,6)),
    ("My suggestion: vocals +6 to +12 dB.", "vocals", INC, (6,12)),
    ("The bass is sitting too far back in the mix. A 3-6 dB lift should fix it.", "bass", INC, (3,6)),
    ("Level-wise the vocal is a little shy; give it 3 to 6 dB.", "vocals", INC, (3,6)),
    ("The drums are slamming way too hard over everything else. Knock them down 6 to 12 dB.", "drums", DEC, (6,12)),
    ("I think the bass guitar needs to be brought down about 5 dB.", "bass", DEC, (5,5)),
    ("You should reduce the level of the drums by 3 to 6 dB.", "drums", DEC, (3,6)),
    ("Nothing needs fixing, the vocals, drums and bass are all at good levels.", NOADJ, None, None),
    ("The vocals overwhelm the mix. Take them down 6-12 dB.", "vocals", DEC, (6,12)),
    ("Try pulling the vocal fader down by 3 to 6 dB; it's a bit too forward.", "vocals", DEC, (3,6)),
    ("The kick and snare are lost under the bass. Push the drums 6 to 12 dB.", "drums", INC, (6,12)),
    ("Bass too quiet. +3-6 dB.", "bass", INC, (3,6)),
    ("Vocals too loud: -6 to -12 dB.", "vocals", DEC, (6,12)),
    ("The mix is pretty well balanced already; I would leave it.", NOADJ, None, None),
    ("The vocals need to sit lower, around 3 to 6 dB lower.", "vocals", DEC, (3,6)),
    ("There's a lack of drums; raise them 6-12 dB.", "drums", INC, (6,12)),
    ("I'd bring the bass up by 3 to 6 dB so it supports the drums better.", "bass", INC, (3,6)),
    ("The bass isn't too quiet, the drums are. Turn the drums up 3-6 dB.", "drums", INC, (3,6)),
    ("It all sounds balanced to me; none of the stems needs a change.", NOADJ, None, None),
    ("The voice is drowned out by the drums and bass, it needs 6 to 12 dB more.", "vocals", INC, (6,12)),
    ("The drum level is excessive; lower by 6 to 12 dB.", "drums", DEC, (6,12)),
    ("Consider dropping the low end by 3 to 6 dB.", "bass", DEC, (3,6)),
    ("The vocals are a touch soft - a 3 to 6 dB boost would help.", "vocals", INC, (3,6)),
    ("No stem stands out as wrong; the levels are correct.", NOADJ, None, None),
    ("Bring down the drums 3-6 dB, they are a bit too much for the vocals.", "drums", DEC, (3,6)),
    ("The drums are crushing the vocal. I'd pull them 3 to 6 dB.", "drums", DEC, (3,6)),
    ("Vocals: fine. Drums: fine. Bass: about 6-12 dB too quiet, so raise it.", "bass", INC, (6,12)),
    ("Could you bring the vocal level up a notch, maybe 3-6 dB?", "vocals", INC, (3,6)),
    ("The bass is muddying everything because it is far too loud; reduce it 6 to 12 dB.", "bass", DEC, (6,12)),
    ("I'm not hearing enough vocals. Raise them by 3 to 6 dB.", "vocals", INC, (3,6)),
    ("The drums sit too low in the mix, push them up 6 to 12 dB.", "drums", INC, (6,12)),
    ("There's nothing wrong with this balance.", NOADJ, None, None),
    ("The bass feels excessive; tame it by 3-6 dB.", "bass", DEC, (3,6)),
    ("I'd leave the drums and vocals alone and turn the bass down by 3 to 6 dB.", "bass", DEC, (3,6)),
    ("The vocals could use 6 to 12 dB more gain.", "vocals", INC, (6,12)),
    ("Reduce the vocals a little, 3-6 dB, so they blend with the band.", "vocals", DEC, (3,6)),
    ("This is balanced well, no changes.", NOADJ, None, None),
    ("The bass is too subtle; give it 3 to 6 dB more.", "bass", INC, (3,6)),
    ("The drums are very prominent. Lower them 6-12 dB.", "drums", DEC, (6,12)),
    ("The vocals are a bit too far forward, so bring them back 3 to 6 dB.", "vocals", DEC, (3,6)),
    ("The bass and drums are fine but the singer is too soft. Raise the vocals 3-6 dB.", "vocals", INC, (3,6)),
    ("Cut 6 to 12 dB from the drums.", "drums", DEC, (6,12)),
    ("The vocals need turning down by 3-6 dB.", "vocals", DEC, (3,6)),
    ("The snare is piercing and way too loud; turn the drums down 6-12 dB.", "drums", DEC, (6,12)),
    ("Everything is where it should be.", NOADJ, None, None),
]


def _check(text: str, stem, direction, magnitude) -> tuple[bool, ParsedAdvice]:
    p = parse_advice(text)
    if stem == NOADJ:
        ok = p.no_adjustment and p.stem is None and p.direction is None and p.magnitude_db is None
    else:
        ok = (not p.no_adjustment and p.stem == stem and p.direction == direction
              and p.magnitude_db == (tuple(float(v) for v in magnitude) if magnitude else None))
    return ok, p


def _template_cases():
    for cat in T.CATEGORIES:
        for j in range(len(T.RESPONSES[cat])):
            stems = (None,) if cat == "no_error" else T.STEMS
            for stem in stems:
                yield cat, j, stem


def test_template_count():
    cases = list(_template_cases())
    assert len(cases) == 4 * 10 * 3 + 10  # no_error wordings name no stem


@pytest.mark.parametrize("cat,j,stem", list(_template_cases()))
def test_every_template_wording(cat, j, stem):
    text = T.format_response(cat, j, stem)
    p = parse_advice(text)
    if cat == "no_error":
        assert p.no_adjustment, text
        assert p.stem is None and p.direction is None and p.magnitude_db is None, (text, p)
    else:
        lo, hi = T.CORRECTION_RANGES_DB[cat]
        want_dir = "increase" if cat in ("quiet", "very_quiet") else "decrease"
        assert not p.no_adjustment, text
        assert (p.stem, p.direction, p.magnitude_db) == (stem, want_dir, (float(lo), float(hi))), (text, p)


def test_paraphrases():
    assert len(PARAPHRASES) >= 40
    failures = []
    for text, stem, direction, mag in PARAPHRASES:
        ok, p = _check(text, stem, direction, mag)
        if not ok:
            failures.append(f"{text!r}: expected {(stem, direction, mag)}, got {p}")
    rate = 1 - len(failures) / len(PARAPHRASES)
    print(f"paraphrase accuracy {rate:.3f} ({len(PARAPHRASES) - len(failures)}/{len(PARAPHRASES)})")
    for f in failures:
        print("FAIL", f)
    assert rate >= 0.95, "\n".join(failures)


@pytest.mark.parametrize("text", ["", "   ", "Nice track!", "What a groove."])
def test_unparsed(text):
    p = parse_advice(text)
    assert p.is_unparsed and p.magnitude_db is None


def test_bass_drum_is_drums_and_kick_is_drums():
    assert parse_advice("The bass drum is too loud.").stem == "drums"
    assert parse_advice("Turn the kick down 3 dB.").stem == "drums"
    assert parse_advice("Turn the bass down 3 dB.").stem == "bass"


def test_negation_drops_a_cue_without_flipping_it():
    p = parse_advice("The vocals are not too loud.")
    assert p.direction is None and not p.no_adjustment
    assert parse_advice("The mix is not balanced.").no_adjustment is False


def test_magnitude_forms():
    cases = {
        "Raise the vocals 3-6 dB.": (3.0, 6.0),
        "Raise the vocals 3 to 6 dB.": (3.0, 6.0),
        "Raise the vocals between 6 and 12 dB.": (6.0, 12.0),
        "Raise the vocals about 4 dB.": (4.0, 4.0),
        "Raise the vocals by 2.5 dB.": (2.5, 2.5),
        "Lower the vocals -6 to -3 dB.": (3.0, 6.0),
        "Lower the vocals by 3dB to 6dB.": (3.0, 6.0),
        "Lower the vocals by six to twelve decibels.": (6.0, 12.0),
    }
    for text, want in cases.items():
        assert parse_advice(text).magnitude_db == want, text


def test_magnitude_nearest_the_action():
    p = parse_advice("The vocals sit 9 dB under the drums; raise them by 3 to 6 dB.")
    assert (p.stem, p.direction, p.magnitude_db) == ("vocals", "increase", (3.0, 6.0))


def test_round_trip_dict():
    p = parse_advice("Cut the drums by 3-6 dB.")
    assert ParsedAdvice.from_dict(p.to_dict()) == p


def test_signed_gains_are_actions_but_levels_are_not():
    p = parse_advice("Vocals: +3 dB")
    assert (p.stem, p.direction, p.magnitude_db) == ("vocals", "increase", (3.0, 3.0))
    p = parse_advice("Drums -6 to -12 dB.")
    assert (p.stem, p.direction, p.magnitude_db) == ("drums", "decrease", (6.0, 12.0))
    assert parse_advice("The vocals are -9 dB vs the rest.").direction is None
