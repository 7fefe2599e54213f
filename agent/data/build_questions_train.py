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


def main() -> int:
    rng = random.Random(13)
    rows: list[dict] = []
    for intent, temps in T.items():
        for t in temps:
            rows += [{"text": s, "intent": intent, "about": None} for s in expand(t, rng)]
    for s in WHY_BARE:
        rows.append({"text": s, "intent": "why", "about": None})
    for about, temps in WHY_ABOUT.items():
        for t in temps:
            rows += [{"text": s, "intent": "why", "about": about} for s in expand(t, rng)]
    for s in FIX_BARE:
        rows.append({"text": s, "intent": "fix", "about": None})
    for about, temps in FIX_ABOUT.items():
        for t in temps:
            rows += [{"text": s, "intent": "fix", "about": about} for s in expand(t, rng)]
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
