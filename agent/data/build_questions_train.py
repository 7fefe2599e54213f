"""Write ``questions_train.jsonl``: the router's training paraphrases (templates x synonyms).

Run from the repository root: ``python agent/data/build_questions_train.py``. Deterministic
(seeded). Each row: ``{"text", "intent", "about"}`` (``about``: for ``why``/``fix``, the topic
intent asked about, else null). Slots are not learned (``agent.intents`` extracts them by rule),
so the templates fill them only for variety. Nothing here comes from the question benchmark
(``evals/questions/``): the templates were written from the intents' definitions, and the
benchmark's held-out part was never used to tune them.
"""
from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

OUT = Path(__file__).resolve().parent / "questions_train.jsonl"
PER_TEMPLATE = 6  # fillings drawn per template (all of them when fewer)

STEM = ["the vocals", "the vocal", "the vox", "the lead vocal", "the singer", "the voice", "my vocals",
        "the drums", "the kick", "the snare", "the hi-hats", "the hats", "the percussion", "my drums",
        "the bass", "the bassline", "the 808", "the bass guitar", "my bass",
        "the guitars", "the guitar", "the keys", "the piano", "the synths", "the synth", "the pads",
        "the strings", "the other instruments", "the keyboards"]
STEM2 = ["the drums", "the bass", "the guitars", "the synths", "the kick", "the pads", "the keys", "the vocals"]
PLATFORM = ["spotify", "apple music", "youtube", "amazon music", "deezer", "tidal", "broadcast", "tv",
            "radio", "ebu r128", "streaming", "streaming services", "itunes", "yt", "apple"]
N = ["1", "2", "3", "4", "6", "1.5", "0.5", "2.5", "two", "three", "four", "one", "half a", "a couple of",
     "five", "10", "8", "12"]
DB = ["db", "dB", "decibels", " db", "dbs"]
UP = ["up", "louder", "higher", "hotter"]
DOWN = ["down", "quieter", "lower", "softer"]
VERB_UP = ["turn up", "raise", "boost", "push", "bring up", "increase", "lift", "nudge up", "crank"]
VERB_DOWN = ["turn down", "lower", "cut", "drop", "pull down", "bring down", "reduce", "duck", "attenuate",
             "back off"]
REGION_ADJ = ["muddy", "boxy", "harsh", "dull", "nasal", "honky", "sibilant", "shrill", "piercing", "thin",
              "airy", "bright", "dark", "tinny", "brittle", "boomy", "woolly", "cloudy", "crisp", "warm"]
REGION_NOUN = ["mud", "low mids", "low-mids", "mids", "midrange", "high mids", "upper mids", "presence",
               "highs", "treble", "top end", "air", "sibilance", "sizzle", "harshness", "boxiness",
               "brilliance", "lower mids", "mid range", "high end"]
HZ = ["300 hz", "250hz", "400 hz", "500hz", "1k", "800 hz", "2k", "3khz", "4 khz", "5k", "8k", "10k",
      "12 khz", "16k", "3k", "6 khz", "1.5k"]
TOPIC = {  # noun phrases for a topic, for why / fix templates
    "platform": ["loudness", "lufs", "integrated loudness", "level for spotify", "streaming loudness",
                 "loudness target", "loudness normalisation"],
    "masking": ["masking", "frequency clash", "clashing", "masking on the vocals", "instruments fighting"],
    "low_end": ["low end", "bottom end", "sub", "low end mono thing", "bass mono problem", "rumble",
                "kick and bass"],
    "stereo": ["stereo image", "stereo width", "phase problem", "phase issue", "mono compatibility",
               "width", "correlation"],
    "peaks": ["clipping", "true peak", "overs", "headroom", "distortion", "peaks", "ceiling"],
    "dynamics": ["compression", "limiting", "dynamics", "psr", "crest factor", "punch", "squashing"],
    "dc_offset": ["dc offset", "dc", "dc bias"],
    "spectrum": ["eq", "tonal balance", "mud", "harshness", "muddiness", "spectrum", "brightness",
                 "dullness", "boxiness", "sibilance"],
    "balance": ["balance", "levels", "stem balance", "vocal level", "bass level", "faders"],
}


def expand(template: str, rng: random.Random) -> list[str]:
    keys = re.findall(r"\{(\w+)\}", template)
    pools = {"stem": STEM, "stem2": STEM2, "platform": PLATFORM, "n": N, "db": DB, "up": UP, "down": DOWN,
             "vup": VERB_UP, "vdown": VERB_DOWN, "adj": REGION_ADJ, "noun": REGION_NOUN, "hz": HZ}
    pools.update({f"t_{k}": v for k, v in TOPIC.items()})
    pools.update(FILL_KINDS)
    choices = [pools[k] for k in dict.fromkeys(keys)]
    combos = list(itertools.product(*choices)) if choices else [()]
    rng.shuffle(combos)
    out = []
    for combo in combos[:PER_TEMPLATE]:
        fill = dict(zip(dict.fromkeys(keys), combo))
        out.append(template.format(**fill))
    return out


T: dict[str, list[str]] = {
    "whatif": [
        "what if i {vup} the {stem} {n} {db}", "what if i {vdown} the {stem} {n} {db}",
        "what if i turn the {stem} {up} {n} {db}", "what if i turn the {stem} {down} by {n} {db}",
        "what happens if i {vup} the {stem} by {n} {db}", "what happens if i {vdown} the {stem} by {n} {db}",
        "{stem} +{n} {db}?", "{stem} -{n} {db}?", "try the {stem} {n} {db} {up}", "try the {stem} {n} {db} {down}",
        "simulate the {stem} {n} {db} {up}", "simulate {vdown}ing the {stem} {n} {db}",
        "what would it sound like with the {stem} {n} {db} {up}", "what if the {stem} were {n} {db} {down}",
        "if i {vup} the {stem} {n} {db} what changes", "suppose i {vdown} the {stem} by {n} {db}",
        "should i {vup} the {stem} {n} {db}", "should i {vdown} the {stem} by {n} {db}",
        "can you try the {stem} {n} {db} {down}", "{vup} the {stem} {n} {db} and measure again",
        "what if i {vdown} it {n} {db}", "what if i turn it {up} {n} {db}", "what if i turn them {down} {n} {db}",
        "what if i {vup} them by {n} {db}", "what if i {vup} the {stem}", "what if i {vdown} the {stem}",
        "what if the {stem} were louder", "what if the {stem} came down a bit", "try it {n} {db} {down}",
        "how would the mix change if i {vdown} the {stem} {n} {db}", "test the {stem} at {n} {db} {up}",
        "what does the balance look like with the {stem} {n} {db} {down}", "and {n} {db}?",
        "what about {n} {db} {up} on the {stem}", "run a what-if with the {stem} {n} {db} {up}",
        "imagine the {stem} {n} {db} {down}", "would {vdown}ing the {stem} by {n} {db} help",
        "what if we {vup} the {stem} by {n} {db}", "{vup} the {stem} by {n} {db}?",
        "if the {stem} go {up} {n} {db} is it balanced", "{stem} {n} {db} {up}, what happens?",
    ],
    "platform": [
        "is it loud enough for {platform}", "is my mix loud enough for {platform}", "is it too loud for {platform}",
        "is it too quiet for {platform}", "will {platform} turn it down", "will {platform} turn my track up",
        "how loud is my mix", "how loud is it", "what's the integrated loudness", "what is the lufs",
        "how many lufs is it", "integrated lufs?", "loudness for {platform}?", "{platform} ready?",
        "is the loudness ok for {platform}", "does it meet the {platform} loudness target",
        "what will {platform} do to the volume", "is my master loud enough", "is the master loud enough for {platform}",
        "will it sound quieter than other songs on {platform}", "is it competitive loudness wise",
        "loudness normalisation on {platform}?", "what's the loudness range", "lra?", "is it loud enough",
        "what lufs should i master to for {platform}", "is the level right for {platform}",
        "how will it sound on {platform} volume wise", "will {platform} normalise my song",
        "is it too loud", "is it too quiet", "am i at the right loudness", "what level is the master at",
        "how loud is the master in lufs", "is the track loud enough to release on {platform}",
        "does {platform} turn it up or down", "loudness ok?", "what's my loudness compared to {platform}",
        "will my song be quieter than others on {platform}", "what about {platform}", "and for {platform}?",
        "short term loudness?", "momentary loudness max?", "is it hitting the loudness target",
    ],
    "masking": [
        "what is masking the {stem}", "is anything masking the {stem}", "what is covering the {stem}",
        "are {stem2} masking {stem}", "is {stem2} masking {stem}", "which instruments clash",
        "is there masking between {stem} and {stem2}", "what is fighting with the {stem}",
        "frequency masking?", "are any stems masking each other", "what is burying the {stem}",
        "is {stem2} stepping on {stem}", "what's in the way of the {stem}", "is there any masking",
        "which stems clash", "do {stem2} and {stem} clash", "is {stem2} covering up {stem}",
        "what masks the {stem}", "is something masking the {stem}", "masking on the {stem}?",
        "what is drowning out the {stem}", "are {stem2} competing with {stem}", "what competes with the {stem}",
        "are instruments fighting for space", "which instrument hides the {stem}", "any clashes between stems",
        "what clashes with {stem}", "is {stem} masked", "are {stem} getting masked", "who is masking who",
        "are there frequency conflicts", "is {stem2} eating {stem}", "what is stepping on {stem}",
    ],
    "low_end": [
        "how is the low end", "is the low end mono", "is the bass mono", "is the low end mono compatible",
        "is the bottom end ok", "is there too much sub", "is there enough sub", "is the low end too boomy",
        "is there rumble", "do the kick and bass work together", "do the kick and bass sit together",
        "kick and bass relationship?", "will the low end translate on a club system", "is the low end phasey",
        "is the bass centred", "is the low end tight", "sub level ok?", "how are the low frequencies",
        "how's the bass end", "lows ok?", "too much low end?", "not enough low end?", "what about the low end",
        "is the low end wide", "is the low end in phase", "is the sub mono", "does the low end hit hard",
        "how's the bottom", "is the low end balanced", "is the sub bass too loud", "is the sub too quiet",
        "is there too much boom", "is it boomy", "any subsonic rumble", "do i need a high pass for rumble",
        "is the low end centered", "is the bass in mono below 100 hz", "is the low end ok on a sub",
        "will the bass translate to small speakers", "how does the bottom end look", "low end?",
        "is there enough weight in the low end", "how much sub is there", "is the kick too boomy",
        "is the low end mono below 120 hz", "is the bottom end solid", "is there low end buildup",
    ],
    "stereo": [
        "is the stereo image ok", "how wide is the mix", "is it too narrow", "is it too wide",
        "will it work in mono", "mono compatibility?", "does it collapse in mono", "phase problems?",
        "is anything out of phase", "is the panning balanced", "how is the stereo width", "correlation?",
        "is the mix lopsided", "does it sound ok in mono", "is the stereo field balanced", "mid side balance?",
        "is the side too loud", "is it wide enough", "is the mix mono", "is the image centred",
        "any phase cancellation", "does it fold down to mono", "is the stereo ok", "how's the stereo",
        "what about the stereo image", "stereo width ok?", "is the mix too mono", "is the panning ok",
        "is one side louder", "how is the imaging", "will it sound ok on a mono speaker",
        "is my mix too narrow", "is there phase issues", "how does it sound in mono", "is it mono compatible",
        "what's the stereo correlation", "is the image balanced left to right", "m/s ratio?",
    ],
    "peaks": [
        "is it clipping", "any clipping", "are there overs", "what is the true peak", "true peak ok?",
        "is there enough headroom", "is the ceiling right", "inter sample peaks?", "is it distorting",
        "will it clip after encoding", "peak level?", "sample peak?", "did i clip the master",
        "any digital distortion", "does it go over 0 dbfs", "is it clipping anywhere", "true peak?",
        "how much headroom do i have", "is the limiter ceiling ok", "are there intersample peaks",
        "is the master clipping", "will it distort on spotify", "is the peak too high", "any clips",
        "is there clipping in the mix", "does it peak above -1", "is it crackling", "are the peaks ok",
        "what's the peak level", "headroom for mastering?", "is it over 0 db", "is the true peak too high",
        "do the peaks go over", "max peak?", "is there distortion from clipping", "will it clip as mp3",
    ],
    "dynamics": [
        "is it over compressed", "is it too compressed", "is it squashed", "how dynamic is it",
        "dynamic range?", "is the limiter too hard", "is it crushed", "does it still have punch",
        "are the transients intact", "psr?", "crest factor?", "plr?", "is it too limited", "is it too dynamic",
        "is it flat and lifeless", "too much bus compression?", "did i smash the master", "how are the dynamics",
        "is it overcompressed", "is there enough dynamic range", "is it brickwalled", "is it punchy",
        "did i over limit", "is the compression ok", "how much limiting is there", "what's the crest factor",
        "what's the psr", "is the master squashed", "are the dynamics ok", "is it too loud and squashed",
        "does it breathe", "is the mix lifeless", "too much compression", "is it limited too hard",
    ],
    "dc_offset": [
        "is there a dc offset", "any dc offset", "dc offset?", "is there dc on the mix", "dc bias?",
        "is the waveform centred", "is there a dc shift", "do i need to remove dc", "check dc", "dc on either channel?",
        "does the file have dc offset", "is there any dc", "dc?", "is there offset from dc", "any dc problems",
        "is the dc offset ok", "does it have a dc component", "is the signal offset from zero",
        "is there dc on the left or right channel", "should i remove dc offset",
    ],
    "spectrum": [
        "is it {adj}", "is the mix {adj}", "does it sound {adj}", "is it too {adj}", "is there too much {noun}",
        "is there enough {noun}", "how are the {noun}", "what's going on at {hz}", "too much energy around {hz}?",
        "is the {noun} ok", "how is the eq", "is the tonal balance ok", "is it too bright", "is it too dark",
        "how does the spectrum look", "is the frequency balance ok", "is the eq balanced", "does it sound dull or bright",
        "is the tone ok", "{noun}?", "is it {adj} sounding", "too much {noun}?", "not enough {noun}?",
        "is there a buildup at {hz}", "how's the {noun}", "is the {noun} too loud", "is the mix {adj} at all",
        "any resonances", "any harsh frequencies", "does the mix sound {adj} to you", "is my mix too {adj}",
        "is the frequency response ok", "eq ok?", "how is the tonal balance", "is the spectrum balanced",
        "what about {hz}", "is there a peak around {hz}", "is it lacking {noun}", "is the {noun} lacking",
    ],
    "reference": [
        "how does it compare to my reference", "how close is it to the reference", "is it brighter than my reference",
        "what's different from the ref", "how do i get closer to the reference", "compared to the reference, is the {noun} ok",
        "is my mix louder than the reference", "how does it match my reference track", "vs the ref?",
        "how far am i from the reference", "is the {noun} like the reference", "what's the difference to my reference",
        "compare it to the reference", "does it sound like my reference", "how do i match the reference",
        "is it darker than the reference track", "reference comparison?", "how is it against the ref",
        "{noun} compared to my reference?", "is the low end like the reference", "how do i get it to sound like the ref",
        "is my {noun} similar to the reference", "closer to the ref how",
    ],
    "stem_info": [
        "tell me about {stem}", "how are {stem}", "how is {stem}", "what about {stem}", "what do you think of {stem}",
        "how do {stem} sound", "anything on {stem}", "{stem}?", "talk about {stem}", "give me the details on {stem}",
        "how are {stem} doing", "info on {stem}", "what's going on with {stem}", "thoughts on {stem}",
        "analyse {stem}", "what can you tell me about {stem}", "how does {stem} sound", "report on {stem}",
        "what's the deal with {stem}", "and {stem}?", "how about {stem}", "what do you make of {stem}",
        "anything about {stem}", "what did you find on {stem}", "how is {stem} looking",
    ],
    "stem_fix": [
        "how do i fix {stem}", "how can i improve {stem}", "what should i do with {stem}", "what should i change on {stem}",
        "how do i make {stem} better", "any advice for {stem}", "tips for {stem}", "what would you do to {stem}",
        "how should i treat {stem}", "how do i get {stem} right", "fix {stem}?", "what do {stem} need",
        "how to improve {stem}", "what needs changing on {stem}", "how do i sort out {stem}",
        "what should i do about {stem}", "how to fix {stem}", "recommendations for {stem}", "how do i make {stem} sit better",
        "what would you change on {stem}", "what's the fix for {stem}", "how do i treat {stem} in the mix",
        "what can i do to improve {stem}", "help me fix {stem}", "how should i process {stem}",
    ],
    "balance": [
        "is the balance ok", "is the mix balanced", "are the levels right", "is anything too loud", "is anything too quiet",
        "are {stem} loud enough", "are {stem} too loud", "are {stem} too quiet", "is {stem} too loud", "is {stem} too quiet",
        "do {stem} sit well", "are {stem} buried", "are {stem} sitting right in the mix", "is {stem} overpowering",
        "are {stem} too much", "should i change the balance", "is {stem} level right", "are {stem} at the right level",
        "my friend says {stem} are too loud", "should i turn {stem} up", "should i turn {stem} down",
        "is {stem} drowning out everything", "are the stems balanced", "fader levels ok?", "are {stem} lost in the mix",
        "are {stem} loud enough compared to {stem2}", "is the level of {stem} ok", "is {stem} too low in the mix",
        "is {stem} too hot", "are the instrument levels ok", "is the stem balance right", "are {stem} too soft",
        "is {stem} sitting on top", "is {stem} too far back", "are {stem} too upfront", "is {stem} buried in the mix",
        "are the vocals loud enough", "is the kick loud enough", "do {stem} need to be louder", "are {stem} too present",
        "are my levels ok", "is the mix level balance right", "which stem is too loud", "is any stem off",
        "should {stem} be louder", "i think {stem} are too quiet", "{stem} too loud?", "{stem} too quiet?",
    ],
    "fix_first": [
        "what should i fix first", "where do i start", "what's the biggest problem", "what's the most important thing to fix",
        "priority?", "top priority?", "what's the main issue", "what should i work on first", "if i fix one thing what should it be",
        "worst problem?", "most urgent fix", "what's the number one issue", "what matters most", "where should i begin",
        "what's the first thing to change", "first thing to fix?", "biggest issue?", "what's most important",
        "which problem should i tackle first", "what would you fix first", "what's the top issue", "main problem?",
        "if you could change one thing", "what's the worst thing about the mix", "what to fix first",
    ],
    "overview": [
        "what's wrong", "what's wrong with my mix", "how is my mix", "how's the mix overall", "summary", "summarise",
        "give me an overview", "anything else", "what else", "any other problems", "is it good", "is it ready for release",
        "is it ready to master", "how did i do", "rate my mix", "overall thoughts", "what are the problems",
        "list the issues", "recap", "what's the verdict", "how does the mix sound overall", "is the mix finished",
        "is it release ready", "overall?", "what do you think of the mix", "sum it up", "what are all the issues",
        "is my mix any good", "what's your overall opinion", "anything else i should know", "what are the main issues",
        "give me the short version", "in short?", "how bad is it", "is it professional sounding",
    ],
    "help": [
        "help", "what can you do", "what can i ask", "what questions can i ask", "how does this work", "what do you do",
        "options?", "examples?", "what are you", "who are you", "how do i use you", "commands", "menu",
        "what can you tell me", "what do you know", "what can you answer", "what should i ask", "instructions",
        "how do i talk to you", "what are my options", "show me what you can do", "help me", "?", "hello", "hi",
    ],
    "out_of_scope": [
        "what's the weather today", "tell me a joke", "who won the match", "write me some lyrics", "write a song about love",
        "what's the capital of france", "how do i sidechain in ableton", "what's the best daw", "recommend a compressor plugin",
        "which microphone should i buy", "what key is my song in", "what bpm is it", "make me a beat", "translate this",
        "what's 5 times 7", "how do i cook pasta", "what is the meaning of life", "can you master it for me",
        "upload it to spotify for me", "what's the news", "book a studio", "how much does mastering cost",
        "who is the best producer", "what genre is this", "can you sing", "write python code", "what time is it",
        "how do i learn guitar", "best headphones for mixing", "what's a good reverb plugin", "how do i get more streams",
        "how do i promote my song", "can you play my song", "what's your favourite band", "teach me music theory",
        "how do i record vocals at home", "what chords should i use", "where can i find samples", "is this song a hit",
        "how do i get signed", "what's the stock price of apple", "who wrote this song",
        "how do i set up my audio interface", "what sample rate should i record at",
    ],
}

WHY_BARE = ["why", "why?", "why is that", "how do you know", "how do you know that", "explain", "explain that",
            "what's the evidence", "why do you say that", "why does that matter", "where does that come from",
            "how did you measure that", "what do you mean", "can you explain", "tell me more", "elaborate",
            "why do you think so", "why is that a problem", "what makes you say that", "on what basis",
            "how did you work that out", "where does that number come from", "really? why", "explain please",
            "why would that be", "how so", "what's that based on", "justify that", "why does it matter"]
WHY_ABOUT = {
    "balance": ["why do you think {stem} are too quiet", "why are {stem} too loud", "why do you say {stem} is too loud",
                "why is {stem} too quiet", "what's the evidence that {stem} are buried", "how do you know {stem} are too loud",
                "why do you think {stem} need to come up", "explain why {stem} are too low", "why is the balance off",
                "why are the levels wrong", "how did you measure the level of {stem}", "why should {stem} go down"],
    "platform": ["why would {platform} turn it down", "why is it too quiet for {platform}", "how did you measure the loudness",
                 "why is the loudness a problem", "explain the lufs", "why is it too loud", "how do you measure lufs"],
    "masking": ["why is the masking a problem", "explain the masking", "how do you measure masking",
                "why do you say {stem2} masks {stem}", "what's the evidence for the masking"],
    "low_end": ["explain the low end thing", "why is the low end a problem", "why is the low end not mono",
                "how did you check the low end", "why is there too much sub", "why is the bass not mono safe"],
    "stereo": ["why is the stereo a problem", "explain the phase issue", "why is it too wide", "how did you measure the width",
               "why does mono compatibility matter", "why is it out of phase"],
    "peaks": ["what makes you think it's clipping", "why is it clipping", "why is the true peak a problem",
              "how did you measure the true peak", "explain the clipping", "why do i need headroom"],
    "dynamics": ["why is it over compressed", "explain the psr", "how do you measure the dynamics", "why is it too limited",
                 "why do you think it's squashed", "what is psr and why does it matter"],
    "dc_offset": ["why does dc offset matter", "explain the dc offset", "why is dc a problem", "how did you measure dc"],
    "spectrum": ["why is it too {adj}", "why do you think it's {adj}", "explain the eq problem", "why is there too much {noun}",
                 "how did you measure the spectrum", "why is the {noun} a problem", "what's the evidence it's {adj}"],
    "reference": ["why is it different from my reference", "explain the reference comparison", "how did you compare to the reference"],
}
FIX_BARE = ["how do i fix it", "how do i fix that", "what should i do", "what do i do about it", "how can i fix this",
            "how do i solve that", "so what do i do", "what's the fix", "how would i fix that", "how do i fix this",
            "what should i do about that", "ok how do i fix it", "what do i change", "how do i sort that out",
            "what's the solution", "how to fix", "and how do i fix it", "what do you suggest", "any advice",
            "what would you do", "how do i deal with that", "how can i improve it", "what should i change"]
FIX_ABOUT = {
    "peaks": ["how do i get rid of the clipping", "how do i fix the clipping", "how do i stop it clipping",
              "how do i lower the true peak", "how do i get more headroom", "how do i fix the overs"],
    "low_end": ["how can i fix the low end", "how do i make the low end mono", "how do i fix the bottom end",
                "how do i clean up the rumble", "how do i fix the kick and bass", "how do i tighten the low end"],
    "spectrum": ["what's the fix for the mud", "how do i get rid of the mud", "how do i fix the harshness",
                 "how do i make it less {adj}", "how do i fix the {noun}", "how do i fix the eq", "how do i reduce the {noun}"],
    "platform": ["how do i make it louder for {platform}", "how do i hit the {platform} target", "how do i get the loudness right",
                 "how do i make it louder", "how do i fix the loudness", "how do i make it less loud"],
    "stereo": ["how do i fix the phase problem", "how do i make it wider", "how do i fix the stereo image",
               "how do i make it mono compatible", "how do i fix the width"],
    "dynamics": ["how do i fix the compression", "how do i get the punch back", "how do i make it less squashed",
                 "how do i fix the dynamics"],
    "masking": ["how do i fix the masking", "how do i stop {stem2} masking {stem}", "how do i fix the clash",
                "how do i unmask {stem}"],
    "dc_offset": ["how do i remove the dc offset", "how do i fix the dc"],
    "balance": ["how do i fix the balance", "how do i fix the levels", "how do i balance the mix"],
}


# statements and non-native or slangy phrasings of each intent (what users type besides questions)
T_MORE: dict[str, list[str]] = {
    "whatif": [
        "what would happen if {stem} was {n} {db} {down}", "what if i pushed {stem} {up} by {n} {db}",
        "can u simulate {stem} {n} {db} {up}", "try {vdown}ing {stem} {n} {db}", "{stem} {n} {db} {down} please",
        "if i make {stem} {n} {db} {up} what is happening", "and with {stem} {n} {db} {down}?",
    ],
    "platform": [
        "i feel like it is too quiet for {platform}", "my engineer says it is too loud for {platform}",
        "i think it is quieter than other songs on {platform}", "the label wants it at -14 for {platform}",
        "what loudness my song has", "loud enuf for {platform}?", "what integrated level did you measure",
        "what loudness did you measure", "is the volume ok for {platform} or not", "is it gonna be loud enough",
        "what will {platform} do to my volume", "is my song loud like the others on {platform}",
    ],
    "masking": [
        "is {stem} covered by {stem2}", "does {stem} get covered up by {stem2}", "is {stem} getting buried by {stem2}",
        "{stem} masked by {stem2}?", "are {stem} and {stem2} fighting each other", "are {stem} and {stem2} clashing",
        "are {stem} and {stem2} clashing with each other", "do the stems mask each other", "is something hiding {stem}",
        "i feel like {stem2} are masking {stem}", "{stem} get lost behind {stem2}", "who is covering {stem}",
        "what instrument is in the way of {stem}", "{stem2} is eating {stem} is it", "are {stem2} clouding {stem}",
        "is {stem2} smearing {stem}", "are {stem2} crowding {stem}", "is {stem2} obscuring {stem}",
        "do {stem2} overlap with {stem}", "which stem masks the others the most", "what masks the most",
        "is {stem2} colliding with {stem}",
        "does {stem} poke through {stem2}", "does {stem} cut through {stem2}", "is {stem} getting lost under {stem2}",
        "is {stem} lost behind {stem2}", "can you hear {stem} over {stem2}", "is {stem} fighting for space", "does {stem2} get in the way of {stem}",
        "is {stem2} masking it", "are {stem2} covering them",
    ],
    "low_end": [
        "the low end feels weak", "i feel like there is too much sub", "the low end feels thin on my car speakers",
        "tell me if {stem} is mono", "say me if the bass is mono", "check if the low end is mono",
        "the low end is it ok", "is good the low end", "do the kick and the bass fight", "kick n bass ok?",
        "is the 808 mono", "is the bottom end mono compatible", "will the low end work on club systems",
        "do kick and bass clash", "is the sub ok", "is there enough sub on small speakers", "is it too bassy",
        "is the mix bassy", "is {stem} boomy", "is {stem} too boomy", "is {stem} rumbling", "too much low end on {stem}?",
        "is there too much bass in the mix", "is the low end muddy or tight", "not enough bass?",
    ],
    "stereo": [
        "i feel like the mix is too narrow", "it sounds narrow to me", "my friend said it sounds narrow",
        "the mix falls apart in mono", "the mix have problem with phase", "does it fall apart when summed to mono",
        "is the panning lopsided", "it sounds weird on a mono speaker", "is it ok on a phone speaker in mono",
        "does it sound wide enough or too narrow", "is the mix leaning to one side", "is it pulling to the left",
        "is anything polarity inverted", "is the polarity right", "is the stereo balance off", "does it lean to the right",
        "is the image skewed", "is the centre solid",
        "is there any phasing", "any phasing issues", "is the mix centred properly", "is the mix centered",
        "is everything centred", "is there comb filtering", "does anything sound hollow in mono",
    ],
    "peaks": [
        "i think i hear clipping", "i feel like it distorts on the loud parts", "my engineer says it clips",
        "i hear some distortion in the loud parts", "it has clipping or no", "does it go over zero",
        "how much headroom before 0 dbfs", "any overs in the file", "is my master clipping or not",
    ],
    "dynamics": [
        "i feel like the master is squashed", "my engineer says it is over compressed", "it feels lifeless",
        "i think i over compressed it", "the mix has no dynamics", "did the limiter kill the punch",
        "is the limiting too aggressive", "does it still have punch", "it sounds flat and squashed to me",
        "is the waveform a sausage", "is the mix breathing", "did the limiter flatten the transients",
        "is it pumping", "does it pump too much", "is the compressor pumping", "is it breathing too much",
        "is there any life left in it", "is the master over processed",
    ],
    "dc_offset": ["does the waveform sit off centre", "is the waveform off centre", "dc offset or not",
                  "is there some dc in the file"],
    "spectrum": [
        "i feel like the mix is {adj}", "i feel like it lacks {noun}", "the mix feels {adj}", "it sounds {adj} to me",
        "the mix lacks {noun}", "the mix needs more {noun}", "my engineer says it is too {adj}", "is it {adj} or not",
        "it sounds kinda {adj}", "does it need more {noun}", "the {noun} sound {adj}", "is there a resonance at {hz}",
        "is it too {adj} on earbuds", "the mix is {adj} no", "is the sound {adj}",
    ],
    "reference": [
        "my ref is louder", "my reference sounds brighter", "i feel like my mix is darker than the reference",
        "how close am i to the ref", "what do i need to change to sound like my reference",
        "is it the same as my reference", "is the {noun} the same as in my reference", "my mix vs my ref",
        "is my low end heavier than the ref", "compared with the ref is it too bright",
    ],
    "stem_info": [
        "how r {stem}", "what do you think about {stem}", "anything to say on {stem}", "how is {stem} doing",
        "can you tell me how {stem} is doing", "is {stem} good", "{stem} ok?", "is {stem} slapping or nah",
        "say me about {stem}", "{stem} how is it", "what's up with {stem}", "give me the rundown on {stem}",
        "how's {stem} sounding", "any issues with {stem}", "what did the analysis say about {stem}",
        "what's the verdict on {stem}", "what's your take on {stem}", "your opinion on {stem}", "rate {stem}",
    ],
    "stem_fix": [
        "how shud i fix {stem}", "what can i do to make {stem} sit better", "any tips for {stem}",
        "what would you change about {stem}", "how i can improve {stem}", "what to do with {stem}",
        "how can i make {stem} better", "give me tips for {stem}",
    ],
    "balance": [
        "i feel like {stem} are too loud", "i think {stem} are too quiet", "{stem} feel buried", "{stem} seem too loud",
        "my engineer says {stem} are too loud", "{stem} too loud or too quiet?", "{stem}, is it too loud",
        "{stem}, are they loud enough", "is {stem} too loud or too quiet", "{stem} is too much loud",
        "is {stem} loud enuf", "are {stem} too much in the mix", "{stem} is it too quiet",
        "is {stem} sitting right or buried", "are the levels of the stems ok", "is {stem} too loud compared to {stem2}",
        "do {stem} need to come up", "do {stem} need to come down", "should {stem} come up a bit", "is {stem} poking out",
        "is {stem} too far forward", "is {stem} too far back", "is {stem} sticking out", "is {stem} loud enough relative to the mix",
        "does {stem} need more level", "does {stem} need to be quieter", "is {stem} too prominent",
        "is the balance between the instruments ok", "is the level balance between the stems ok",
        "is the balance between {stem} and {stem2} right", "how is the balance between the instruments",
        "the {stem} - too loud?", "{stem} are way too loud", "should i turn {stem} down a bit",
    ],
    "fix_first": [
        "which is the problem most big", "what is the most important problem in my mix", "priorities?",
        "where should i start fixing", "what is the number one thing to fix", "if i only change one thing what",
        "what to do first", "what needs fixing the most", "which fix matters most",
    ],
    "overview": [
        "be honest, is it good", "gimme the verdict", "is it bangin or not", "how bad is it honestly",
        "overall how is the mix", "is this ready to send to mastering", "give me a quick summary",
        "is my mix good enough to release", "what is wrong with it", "anything else i should look at",
        "is the mix ok or not", "what do you think overall", "give me the full report", "full report please",
        "give me some feedback", "what's your feedback", "review the whole mix", "complete rundown of the mix",
    ],
    "help": ["how do i use this thing", "how does this thing work", "what is this", "what are you for",
             "what kind of questions can i ask", "what can i ask you about", "how do i use this app",
             "what can this do", "hi what can you do", "what do i ask you", "what sort of things do you check",
             "what do you look at", "what do you measure", "what can you analyse", "what are your features",
             "what kind of things can you tell me"],
    "out_of_scope": ["can you write me a chorus", "what plugin should i use for reverb", "what tempo is my song",
                     "can you make my song go viral", "how's the weather in london", "best daw for beginners",
                     "who should i send my demo to", "what mic should i buy for vocals", "how do i learn mixing",
                     "tell me about the history of jazz", "what's a good name for my band",
                     "can you add reverb to {stem}", "can you autotune {stem}", "remove {stem} from the song",
                     "can you tune {stem} for me", "can you re-record {stem}", "make {stem} sound like drake",
                     "separate {stem} into a new file", "export {stem}"],
}
FIX_MORE = {
    "peaks": ["what should i do to stop it clipping", "what do i do about the clipping", "how can i stop the clipping",
              "how to stop the distortion"],
    "spectrum": ["how can i get rid of the {noun}", "how do i stop the mud building up", "how i can fix the {noun}",
                 "what do i do about the {adj} sound", "how to make it less {adj}"],
    "dc_offset": ["what do i do about the dc offset", "how do i get rid of dc"],
    "stereo": ["how do i fix the phase", "what do i do about the width", "how to make it more mono compatible"],
    "platform": ["how do i make it louder for {platform}", "what do i do to reach the {platform} target"],
    "low_end": ["what do i do about the low end", "how to fix the sub"],
    "dynamics": ["what do i do about the squashing", "how do i bring back the punch"],
    "masking": ["what do i do about the masking", "how do i make {stem} cut through {stem2}"],
    "reference": ["how do i get closer to my reference"],
}
WHY_MORE = {
    "balance": ["why do u say {stem} is too loud", "why u think {stem} is too quiet"],
    "spectrum": ["why do you think its too {adj}", "what makes it {adj}"],
    "dynamics": ["what is your evidence that it is over compressed", "why do you say it is squashed"],
    "peaks": ["how do you know it is clipping", "what is your evidence for clipping"],
    "low_end": ["explain why the low end is not mono"],
    "stereo": ["why do you say it is too narrow", "why is it too wide", "why do you think it is lopsided",
               "why is it not mono compatible", "what makes it sound narrow"],
    "platform": ["why would {platform} turn it down", "why is it too quiet"],
}
WHY_BARE_MORE = ["what's the reasoning", "reasoning?", "what's the logic", "what's the rationale", "ok but why", "how did you get that number", "why is that", "but why", "where did you get that",
                 "how did you get that", "what is that based on", "why tho", "says who", "how come"]
FIX_BARE_MORE = ["ok so how do i fix that", "so what do i do", "how do i fix", "and how do i solve it",
                 "what can i do about it", "so how do i fix it then"]

# more of everyday mixing talk, written from the intents' definitions (vocabulary breadth)
T_WIDE: dict[str, list[str]] = {
    "whatif": ["what happens with {stem} at -{n} {db}", "preview {stem} {n} {db} {up}", "show me {stem} {n} {db} {down}",
               "what if i made {stem} {n} {db} {up}", "turn {stem} {up} {n} {db} and show me", "how about {stem} {n} {db} {down}",
               "{stem} down {n}", "{stem} up {n}", "could you drop {stem} {n} {db}", "what if {stem} was {n} {db} {up}"],
    "platform": ["what's my integrated lufs reading", "where does the loudness land", "how hot is the master",
                 "is the master too hot", "is the track too soft overall", "is it loud enough to compete",
                 "will streaming services penalise it", "will it get a loudness penalty on {platform}",
                 "how much will {platform} turn it down", "how many db will {platform} turn it down",
                 "does it meet broadcast loudness", "is it compliant with ebu r128", "am i under -14 lufs",
                 "is the integrated level ok", "what lufs did it measure", "loudness reading?", "is it too loud for streaming",
                 "is it too hot for {platform}", "will my track sound quiet next to others", "is the volume competitive",
                 "what's the overall volume"],
    "masking": ["is {stem} clear in the mix or masked", "is there enough separation between {stem} and {stem2}",
                "do {stem} and {stem2} occupy the same frequencies", "are {stem} and {stem2} in the same frequency range",
                "is {stem2} sitting on top of {stem}", "does {stem2} overlap {stem}", "what frequencies are clashing",
                "where do the stems collide", "is there spectral overlap", "is {stem} being buried by {stem2}",
                "what's hiding {stem}", "what is in the way of {stem}"],
    "low_end": ["how's the bottom end weight", "is the low end solid", "is the 808 too boomy",
                "is there too much energy below 100 hz", "is the kick and 808 clashing", "does the sub translate",
                "will it hit on a subwoofer", "is there enough thump", "how's the low end on the kick",
                "low frequency content ok?", "is the bass too wide", "should i mono the bass", "is the sub in mono",
                "is the kick overpowering the low end", "does the low end rumble"],
    "stereo": ["is the mix too wide for mono", "how's the stereo spread", "does it sound lopsided", "is the left channel louder",
               "is the right side louder", "are the channels balanced", "is the balance between left and right ok",
               "does the stereo image collapse", "is there phase smearing", "is it phasey", "any out of phase elements",
               "is the side channel too loud", "is the mid channel strong enough", "does it sound wide on headphones"],
    "peaks": ["does it clip on the master", "is it hitting 0", "is it going into the red", "is it in the red anywhere",
              "is anything redlining", "any peaks above -1 dbtp", "is the true peak under -1", "does it exceed the ceiling",
              "is there any digital clipping", "is there inter-sample clipping", "will it distort after mp3 conversion",
              "any crunchy distortion", "is the limiter clipping", "is it too hot on the peaks", "how much headroom is left"],
    "dynamics": ["is there enough dynamics", "is it too flat", "is the mix squished", "is it over limited", "did i crush it",
                 "how punchy is it", "are the transients squashed", "is the crest factor healthy",
                 "what's the peak to loudness ratio", "does it still hit hard", "is there movement in the dynamics",
                 "is the compression too heavy", "too much glue?", "is it fatiguing"],
    "spectrum": ["how's the frequency balance", "is the mix too bright or too dark", "how's the eq overall",
                 "is the eq curve balanced", "is the tone too thin", "does it sound thin", "is it too tinny",
                 "is it too harsh on the ears", "is there too much high end", "is there enough low mids", "is it fizzy",
                 "does the top end sizzle", "is there a build up in the mids", "is it too warm", "is it cold sounding",
                 "is it piercing", "is it too midrangey", "are the highs harsh", "is it too honky", "any ringing frequencies",
                 "is there a resonance", "any nasty frequencies", "what frequencies stick out"],
    "reference": ["how do i compare to the pro track", "am i close to the reference", "how does my mix stack up to the ref",
                  "is my mix as loud as the reference", "is the reference wider than mine",
                  "is my low end similar to the reference track", "is my mix brighter or darker than the ref",
                  "what's the biggest difference from the ref", "does my mix match the reference tonally",
                  "the reference vs mine?", "how far off the reference am i"],
    "stem_info": ["what's the story with {stem}", "give me the lowdown on {stem}", "what did you notice about {stem}",
                  "check {stem}", "look at {stem}", "how are {stem} sounding", "analyze {stem}", "are {stem} good",
                  "is there anything wrong with {stem}", "any problems with {stem}", "feedback on {stem}"],
    "stem_fix": ["how would you mix {stem}", "how do i get {stem} to sit right", "how can i make {stem} clearer",
                 "how do i make {stem} punchier", "how do i clean up {stem}", "what processing does {stem} need",
                 "how should i eq {stem}", "how should i compress {stem}", "can you suggest changes for {stem}",
                 "what do i change on {stem}"],
    "balance": ["is {stem} too hot in the mix", "is {stem} too low", "are {stem} too high in the mix", "do {stem} stick out",
                "is {stem} on top", "is {stem} overpowering the mix", "is {stem} sitting well", "is {stem} at a good level",
                "level of {stem} ok?", "should {stem} be quieter", "is the mix balance ok", "how's the level balance",
                "is everything at the right volume", "are the faders right", "too much {stem}?", "not enough {stem}?"],
    "fix_first": ["what's the main thing to fix", "what should i focus on", "what's the priority",
                  "what would make the biggest difference", "what's the single biggest improvement", "rank the problems",
                  "what's the quickest win", "where should i focus", "most important fix?"],
    "overview": ["what's the overall picture", "how's it sound overall", "give me your verdict", "is it good to go",
                 "is it done", "can i release it", "review my mix", "any issues", "what are the issues", "what did you find",
                 "what problems did you find", "overall impression?", "is it any good"],
    "help": ["what are you able to do", "how can you help", "what can i do here", "what's possible",
             "give me examples of questions", "list what you can answer", "what info do you have", "what can you check"],
    "out_of_scope": ["what's the best vocal chain", "what's your name", "how old are you", "play me something",
                     "what's the capital of spain", "convert this to mp3", "which plugin makes vocals sound expensive",
                     "how do i become a mix engineer", "what should i charge for mixing"],
}
WHY_BARE_WIDE = ["why do you say that", "what's the reason", "why is it like that", "explain that to me",
                 "can you explain why", "why should i care", "what measurement says that", "show me the numbers",
                 "show me the evidence", "where's the proof", "what data is that based on"]
WHY_WIDE = {"balance": ["why is {stem} flagged", "why did you flag {stem}", "why do you say that about {stem}"]}
FIX_BARE_WIDE = ["how do i solve this", "what's the remedy", "how would you fix it", "how do i improve that",
                 "what can i do", "give me a fix", "how do i address that", "any tips to fix it", "what do you recommend"]

# each topic's nouns in generic frames ("is the stereo spread ok?", "check the headroom")
# round 3 (issue 13): kinds of phrasing a second independent writer's questions showed the
# paraphrases lacked, written as kinds (problem statements, indirect requests, complaints), not
# copied from the benchmark
T_KINDS: dict[str, list[str]] = {
    "fix_first": ["top {n} things to fix", "the three biggest things to fix", "main things to fix first",
                  "which one do i deal with first", "which of these do i tackle before the others",
                  "which one should i sort out before the rest", "so many problems, where do i begin",
                  "what do i handle first", "which issue comes first", "in what order do i deal with these",
                  "which of them do i work on first", "too many issues, which one first"],
    "balance": ["can you even hear {stem}", "can i even hear {stem} in the mix", "is {stem} audible",
                "is {stem} audible enough", "{stem} sits way on top of the track", "{stem} sits on top of the mix",
                "{stem} sounds like karaoke, separate from the track", "{stem} feels disconnected from the rest",
                "{stem} feels low", "{stem} feels low in the mix", "{stem} is hard to hear", "i can barely hear {stem}",
                "is {stem} too loud compared with the music", "is {stem} too loud against the beat",
                "is {stem} louder than the rest", "{stem} is too much in front", "{stem} disappears in the chorus",
                "{stem} is too hot in the mix", "is {stem} too hot in the mix", "{stem} is lost in the mix",
                "does {stem} need more gain", "should {stem} have more volume", "does {stem} want more volume"],
    "dynamics": ["the drops have no impact", "the chorus does not hit harder than the verse",
                 "the loud and quiet parts are the same volume", "everything is the same level the whole way through",
                 "there is no contrast between the sections", "the drop does not hit", "it lacks impact",
                 "it has no impact anymore", "it sounds flat with no ups and downs", "the drop has no punch",
                 "the quiet parts are as loud as the loud parts", "the quiet and loud bits are the same level"],
    "peaks": ["is something overloading", "is anything overloading", "there is a crunchy sound in the loud parts",
              "i hear crackles on the loud parts", "is it distorting", "is the master overloaded",
              "is my limiter ceiling too hot", "is a ceiling of -0.1 dbtp too hot", "will it clip after encoding",
              "will it clip when converted to mp3", "is the ceiling too high", "is the limiter set too hot",
              "something crackles in the drop", "is the output overloaded", "will it distort after conversion to aac",
              "my limiter is set to -{n} dbtp, is that ok", "i set the ceiling to -0.3 dbtp, is that safe",
              "is -1 dbtp enough", "my true peak limiter is at -0.1, is that too hot", "the meters go red",
              "it goes into the red on my interface", "i get red lights when it plays", "the meter hits red"],
    "platform": ["will it get turned down", "will it get turned down anywhere", "will the streaming services turn it down",
                 "will it be turned up or down on streaming", "could it go on air as it is", "is it ready for airplay",
                 "is it ok loudness-wise", "loudness-wise is it ready", "will they turn it down on {platform}",
                 "will {platform} turn it down", "is it too quiet for the radio station"],
    "stem_info": ["how do {stem} look", "how do {stem} sound", "how does {stem} look", "how does {stem} sound",
                  "how do {stem} look in the analysis", "how do they look", "how do they sound"],
    "spectrum": ["my ears get tired after a few plays", "it is fatiguing to listen to", "it hurts my ears",
                 "my ears hurt after a while", "listening gets tiring after a few minutes", "the tonal balance is off",
                 "i think it is the eq", "something is off in the eq", "the mix sounds muddy on small speakers",
                 "it gets muddy when everything plays", "is the chorus muddy", "it is muddy in the low mids"],
    "overview": ["would you release this", "would you put this out", "could i release this as it is",
                 "is it good enough to put out", "would you sign off on this", "is it finished"],
    "stem_fix": ["how do i make {stem} sound more pro", "how do i make {stem} sound more professional",
                 "how can {stem} sound more polished", "how do i get {stem} to sound better",
                 "any ideas to fix {stem}", "suggestions for fixing {stem}", "any ideas for improving {stem}"],
    "dc_offset": ["is the waveform centred around zero", "is the mix centred on zero", "is it off zero",
                  "is the signal shifted off zero"],
    "reference": ["does mine sound anything like it", "how does mine compare", "is mine as loud as it",
                  "does mine sound similar", "does my mix sound like it", "how close is mine to it"],
    "help": ["what can you do", "what do you do", "what are you able to check", "what can you help with"],
    "out_of_scope": ["how do i get more {x}", "how can i grow my {y}", "how do i promote my song",
                     "how do i get on playlists", "should i release on a friday", "how much do distributors pay",
                     "thanks", "thank you", "thanks a lot", "cheers", "ok thanks", "great thanks", "got it, thanks",
                     "bye", "see you later", "you are great", "nice one", "how do i make money from music",
                     "which distributor should i use", "how do i copyright my song"],
}
FIX_KINDS = {
    "stereo": ["is it possible to make it wider", "can i make it more wide", "how can it sound more wide",
               "is possible to make the mix more wide", "can the stereo be wider", "how to get more width"],
    "spectrum": ["how do i fix the tonal balance", "how can i fix the eq", "how do i fix the frequency balance",
                 "how do i balance the frequencies", "how do i fix the tone"],
    "dynamics": ["how do i undo the squashing", "how do i get the dynamics back", "how do i undo the limiting"],
}
# disbelief: the user doesn't hear it, and asks what the claim rests on
WHY_KINDS = {k: [f"what makes you think there is {{t_{k}}}", f"what makes you say the {{t_{k}}} is a problem",
                 f"how can you tell there is a {{t_{k}}} problem", f"i do not hear it, so why flag the {{t_{k}}}"]
             for k in TOPIC}
FILL_KINDS = {"x": ["monthly listeners", "streams", "followers", "fans", "plays", "listeners"],
              "y": ["audience", "fanbase", "following"]}

KEYNOUNS: dict[str, list[str]] = {
    "platform": ["loudness", "lufs", "integrated loudness", "streaming loudness", "volume level", "loudness target",
                 "loudness normalisation", "loudness penalty", "master level", "overall level", "loudness spec",
                 "delivery loudness", "commercial loudness"],
    "masking": ["masking", "frequency masking", "frequency overlap", "clashing", "frequency conflicts",
                "instrument separation", "overlap between stems"],
    "low_end": ["low end", "bottom end", "sub", "sub bass", "low frequencies", "kick and bass", "low end mono",
                "weight", "thump", "bass frequencies", "lows", "low end translation"],
    "stereo": ["stereo image", "stereo width", "panning", "phase", "mono compatibility", "correlation", "stereo field",
               "stereo spread", "imaging", "side signal", "left right balance", "width"],
    "peaks": ["clipping", "true peak", "peak level", "headroom", "ceiling", "overs", "intersample peaks", "distortion",
              "peaks", "limiter ceiling"],
    "dynamics": ["dynamics", "dynamic range", "compression", "limiting", "punch", "transients", "crest factor", "psr",
                 "plr", "bus compression", "squashing", "pumping"],
    "dc_offset": ["dc offset", "dc", "dc bias", "dc component", "dc shift"],
    "spectrum": ["eq", "tonal balance", "frequency balance", "spectrum", "tone", "frequency response", "eq curve",
                 "resonances", "brightness", "highs", "mids", "low mids", "top end", "air"],
}
FRAMES = ["how is the {k}", "is the {k} ok", "what about the {k}", "{k}?", "check the {k}", "any problems with the {k}",
          "tell me about the {k}", "how does the {k} look", "is there an issue with the {k}", "thoughts on the {k}",
          "can you look at the {k}", "what's the {k} like", "{k} ok?", "is the {k} alright", "how's my {k}"]
FRAMES_PER_TOPIC = 10

# chat around a question: greetings, asides and tags (the router cuts most of them off; these make
# the classifier indifferent to the rest)
PRE = ["i want to know if ", "i would like to know whether ", "could you have a look at whether ",
       "can you check if ", "please check whether ", "i wonder if ", "hello, sorry for my english. ", "hey, ", "hi, quick question: ", "ok so ", "so ", "sorry, ", "quick one: ", "one more thing, ",
       "i was wondering, ", "hey mixingbuddy, ", "question: ", "can you tell me ", "could you check ", "pls tell me ",
       "yo ", "hmm ", "right, ", "alright, ", "i just finished this mix, ", "i mixed this on headphones, ",
       "this is my first mix, ", "i have been working on this for weeks, "]
POST = ["?", " please", " thanks", ", thanks!", " or not", " do you think", ", what do you think", " in your opinion",
        " at the moment", " right now", " honestly", ", be honest", " lol", " mate", " in the mix", " overall",
        " for this song", " on this track"]
CHATTY_PER_INTENT = 30


def chatty(rows: list[dict], rng: random.Random) -> list[dict]:
    """Some rows of each intent again with a preamble and/or an aside."""
    out = []
    for intent in dict.fromkeys(r["intent"] for r in rows):
        mine = [r for r in rows if r["intent"] == intent]
        for r in rng.sample(mine, min(CHATTY_PER_INTENT, len(mine))):
            text = r["text"].rstrip("?")
            kind = rng.random()
            if kind < 0.4:
                text = rng.choice(PRE) + text
            elif kind < 0.7:
                text = text + rng.choice(POST)
            else:
                text = rng.choice(PRE) + text + rng.choice(POST)
            out.append({**r, "text": text})
    return out


def main() -> int:
    rng = random.Random(13)
    rows: list[dict] = []
    for table in (T, T_MORE, T_WIDE, T_KINDS):
        for intent, temps in table.items():
            for t in temps:
                rows += [{"text": s, "intent": intent, "about": None} for s in expand(t, rng)]
    for s in WHY_BARE + WHY_BARE_MORE + WHY_BARE_WIDE:
        rows.append({"text": s, "intent": "why", "about": None})
    for table in (WHY_ABOUT, WHY_MORE, WHY_WIDE, WHY_KINDS):
        for about, temps in table.items():
            for t in temps:
                rows += [{"text": s, "intent": "why", "about": about} for s in expand(t, rng)]
    for s in FIX_BARE + FIX_BARE_MORE + FIX_BARE_WIDE:
        rows.append({"text": s, "intent": "fix", "about": None})
    for table in (FIX_ABOUT, FIX_MORE, FIX_KINDS):
        for about, temps in table.items():
            for t in temps:
                rows += [{"text": s, "intent": "fix", "about": about} for s in expand(t, rng)]
    for intent, nouns in KEYNOUNS.items():
        for k in nouns:
            rows += [{"text": f.format(k=k), "intent": intent, "about": None}
                     for f in rng.sample(FRAMES, min(FRAMES_PER_TOPIC // 2, len(FRAMES)))]
    rows += chatty(rows, rng)
    seen, out = set(), []
    for r in rows:
        key = (r["text"].lower(), r["intent"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    with OUT.open("w", encoding="utf-8") as f:
        for r in out:
            f.write(json.dumps(r) + "\n")
    print(f"{len(out)} rows -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
