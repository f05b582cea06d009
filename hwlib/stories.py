"""Deterministic procedural children's stories: the bundled corpus for the demo and the tests.

    python -m hwlib.stories --out data/stories     # writes stories.{train,val,test}

Every choice goes through one `random.Random(seed)` over plain tuples (never sets, never hash
order), so a seed gives bit-identical text on every platform. A story has a hero, a friend, a
grown-up, a place and an object, one of eleven plots (a problem and how it was solved, with
dialogue), an ending and sometimes a moral. The word lists are long enough that a tiny model has
to learn the structure (who is "she", what follows "said") rather than memorise sentences.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from hwlib.story_words import (
    ADULTS,
    ANGRY,
    ANIMALS,
    BOYS,
    COLORS,
    FEARS,
    FRAGILE,
    GIRLS,
    HAPPY,
    HOBBIES,
    HOMES,
    NEEDY,
    PLACES,
    PROJECTS,
    SAD,
    SCARED,
    SIGHTS,
    SPOTS,
    TOSSABLE,
    TOYS,
    TRAITS,
    WHENS,
)


def article(phrase: str) -> str:
    """'a' or 'an' for the phrase, by the sound of its first word."""
    word = phrase.split()[0].lower()
    if word.startswith(("uni", "use", "one", "eu")):  # a unicorn, a useful..., a one-eyed...
        return "a"
    if word.startswith(("hour", "honest", "heir")):  # silent h
        return "an"
    return "an" if word[0] in "aeiou" else "a"


def a(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


def cap(sentence: str) -> str:
    """Upper-case the first letter, also when the sentence opens with a quote."""
    i = 1 if sentence.startswith('"') else 0
    return sentence[:i] + sentence[i].upper() + sentence[i + 1:]


class Character:
    """A name ("Lily", "her mom", "the owl"), a kind ("girl", an animal, a role) and pronouns."""

    def __init__(self, name: str, kind: str, female: bool):
        self.name, self.kind, self.female = name, kind, female
        self.sub, self.obj, self.pos = ("she", "her", "her") if female else ("he", "him", "his")
        self.hand = "hand" if kind in ("girl", "boy") else "paw"  # animals hold things in paws


class Scene:
    """The cast and setting of one story, and the random choices that fill its sentences."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.hero = self.child()
        self.friend = self.child(avoid=self.hero.name)
        role, female = rng.choice(ADULTS)
        self.adult = Character(f"{self.hero.pos} {role}", role, female)
        self.place, prep = rng.choice(PLACES)
        self.at_place = f"{prep} {self.place}"
        self.when = rng.choice(WHENS)

    def child(self, avoid: str = "") -> Character:
        female = self.chance(0.5)
        name = self.rng.choice([n for n in (GIRLS if female else BOYS) if n != avoid])
        kind = ("girl" if female else "boy") if self.chance(0.5) else self.rng.choice(ANIMALS)
        return Character(name, kind, female)

    def buddy(self) -> str:
        """The friend at first mention: sometimes named with the hero's word or their kind."""
        f = self.friend
        kind = f"{f.name} the {f.kind}" if f.kind not in ("girl", "boy") else f.name
        return self.pick(f.name, f"{self.hero.pos} friend {f.name}", kind)

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def thing(self, nouns: tuple[str, ...]) -> tuple[str, str]:
        """(noun, noun with an adjective half of the time)."""
        noun = self.rng.choice(nouns)
        color = self.rng.choice(COLORS)
        return noun, (f"{color} {noun}" if self.chance(0.6) else noun)

    def say(self, who: Character, line: str, verbs: tuple[str, ...] = ()) -> str:
        """One line of dialogue with its speaker, in one of three word orders."""
        if not verbs:
            verbs = {"?": ("asked",), "!": ("shouted", "cried", "said")}.get(line[-1], ("said",))
        verb = self.rng.choice(verbs)
        inner = line[:-1] + "," if line.endswith(".") else line
        return self.pick(f'"{inner}" {verb} {who.name}.', f'"{inner}" {who.name} {verb}.',
                         f'{who.name} {verb}, "{line}"')


def opening(s: Scene) -> list[str]:
    h = s.hero
    desc = s.pick(f"{s.rng.choice(TRAITS)} little {h.kind}", f"{s.rng.choice(TRAITS)} {h.kind}",
                  f"little {h.kind}")
    home = s.rng.choice(HOMES)
    out = [s.pick(f"Once upon a time, there was {a(desc)} named {h.name}.",
                  f"There once was {a(desc)} called {h.name}.",
                  f"{h.name} was {a(desc)} who lived {home}.",
                  f"Long ago, {home}, there lived {a(desc)} named {h.name}.")]
    if h.kind in ("girl", "boy") and s.chance(0.3):
        out.append(f"{h.sub} was {s.rng.randrange(3, 10)} years old.")
    if s.chance(0.6):
        out.append(s.pick(f"{h.sub} loved to {s.rng.choice(HOBBIES)}.",
                          f"More than anything, {h.name} loved to {s.rng.choice(HOBBIES)}."))
    return out


def plot_lost(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    h, f = s.hero, s.friend
    noun, desc = s.thing(TOYS)
    spot, spot2, spot3 = s.rng.sample(SPOTS, 3)
    return [
        s.pick(f"{s.when}, {h.name} took {h.pos} {desc} to {s.place}.",
               f"{s.when}, {h.name} was playing with {h.pos} {desc} {s.at_place}."),
        s.pick(f"But when it was time to go home, the {noun} was gone.",
               f"{h.sub} put it down to {s.rng.choice(HOBBIES)}, and when {h.sub} came back, "
               "it was gone."),
        s.say(h, s.pick(f"Where is my {noun}?", f"Oh no, I lost my {noun}!")),
        f"{h.sub} looked {spot} and {spot2} for {s.pick('5', '10', '15', '20', '30')} minutes, "
        f"but {h.sub} could not find it.",
        s.pick(f"Just then, {h.pos} friend {f.name} came by.",
               f"{f.name}, {a(s.rng.choice(TRAITS) + ' ' + f.kind)}, saw {h.obj} and came over."),
        s.say(f, s.pick("Don't worry, I will help you look.", "Let's look together!")),
        f"They looked together, and soon {f.name} found the {noun} {spot3}.",
        s.say(h, f"Thank you, {f.name}!", ("said", "cried")),
    ], ("friends help each other", "two pairs of eyes are better than one",
        "a good friend is always ready to help")


def plot_stuck(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    h, f = s.hero, s.friend
    noun, desc = s.thing(TOSSABLE)
    return [
        s.pick(f"{s.when}, {h.name} and {s.buddy()} went to {s.place} to play with {h.pos} {desc}.",
               f"{s.when}, {h.name} was playing with {a(desc)} {s.at_place} with {s.buddy()}."),
        s.pick(f"{h.name} threw the {noun} up high, but the wind carried it away.",
               f"Suddenly, the wind blew hard and the {noun} flew up into the air.",
               f"{f.name} threw the {noun} too hard, and it flew over {h.name}'s head."),
        s.pick("It landed in a tall tree and got stuck.", "It got stuck on a high branch.",
               "It landed on the roof of a shed and stayed there."),
        s.say(h, s.pick("Oh no! How will we get it down?", f"My {noun} is stuck up there!")),
        s.pick(f"{h.name} jumped as high as {h.sub} could, but {h.sub} could not reach it.",
               f"{h.name} stood on {h.pos} tiptoes and stretched, but it was too high.",
               f"{f.name} tried to climb up, but {f.sub} slipped and fell on the soft grass."),
        s.say(f, s.pick("I have an idea!", "Wait, I know what to do!", "Let's ask for help.")),
        s.pick(f"{f.name} found a long stick, and together they poked the {noun} until it fell.",
               f"They ran to get {s.adult.name}, who brought a ladder and got the {noun} down.",
               f"{h.name} climbed onto {f.name}'s back and grabbed the {noun} with one {h.hand}.",
               f"A tall giraffe walking by reached up with its long neck and got the {noun}."),
        s.pick(f"{h.name} hugged the {noun} and laughed.",
               s.say(h, "Thank you! Now we can play again!")),
    ], ("there is always a way if you work together", "a good idea can solve a big problem")


def plot_sharing(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    h, f, grown = s.hero, s.friend, s.adult
    noun, desc = s.thing(TOYS)
    return [
        f"{s.when}, {h.name} and {s.buddy()} were playing {s.at_place}.",
        s.pick(f"They both saw {a(desc)} on the ground at the same time.",
               f"{f.name} had brought {a(desc)}, and {h.name} wanted to play with it too."),
        s.say(h, s.pick(f"I want the {noun}!", "It is my turn!", "Give it to me!")),
        s.say(f, s.pick("No, I had it first!", "No, it is mine!", "But I want it too!")),
        s.pick(f"They both pulled on the {noun}, and {h.name} began to feel {s.pick(*ANGRY)}.",
               f"They began to argue, and soon both of them were {s.pick(*SAD)}."),
        s.pick(s.say(grown, "Why don't you take turns?") + " They listened.",
               f"Then {h.name} had an idea. " + s.say(h, "Let's play with it together!"),
               f"{h.name} saw how {s.pick(*SAD)} {f.name} looked and gave {f.obj} the {noun}."),
        s.pick(f"They took turns with the {noun}, and then they played a game together.",
               f"They played with the {noun} together and laughed all afternoon."),
        s.pick("Sharing was much more fun than fighting.",
               f"{h.name} felt warm and {s.pick(*HAPPY)} inside."),
    ], ("sharing makes everyone happy", "it is more fun to play together", "taking turns is fair")


def plot_fear(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    h = s.hero
    what, came, did, found = s.rng.choice(FEARS)
    helper = s.adult if s.chance(0.5) else s.friend
    fields = {"at_place": s.at_place.capitalize(), "hand": h.hand}
    return [
        s.pick(f"{h.name} was afraid of {what}.", f"{h.name} did not like {what} at all."),
        came.format(**fields),
        s.pick(f"{h.name} felt so {s.pick(*SCARED)} that {h.sub} wanted to run away.",
               f"{h.name} felt {s.pick(*SCARED)}, and {h.pos} knees began to shake."),
        s.say(h, s.pick("I am scared!", "I don't want to!", "What if something bad happens?")),
        s.say(helper, s.pick("It is okay to be scared. I am right here with you.",
                             "Let's try together. Hold my hand.",
                             "Take a deep breath and count to three.")),
        f"So {h.name} {did.format(**fields)}.",
        f"To {h.pos} surprise, {found}.",
        s.say(h, s.pick("That was not scary at all!", "I did it!", "I was brave!")),
        f"{helper.name} smiled and gave {h.obj} a big hug.",
    ], ("being brave means trying even when you are scared", "fear gets smaller when you face it")


def plot_broken(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    h, f, grown = s.hero, s.friend, s.adult
    noun, desc = s.thing(FRAGILE)
    out = [s.pick(f"{h.name} had {a(desc)} that {h.sub} loved very much.",
                  f"{grown.name} had given {h.obj} {a(desc)} for {h.pos} birthday.")]
    if s.chance(0.5):
        out += [f"{s.when}, {s.buddy()} came over to see it.",
                f"But it slipped from {f.pos} {f.hand} and broke into pieces.",
                s.say(f, s.pick("I am so sorry!", "I didn't mean to!")),
                f"{h.name} felt {s.pick(*SAD)}, but {h.sub} could see that {f.name} was sad too.",
                s.say(h, "It is okay. It was an accident.", ("said", "whispered"))]
    else:
        out += [f"{s.when}, {h.sub} was playing with it and tripped, and it fell and broke.",
                f"{h.name} was afraid to tell {grown.name}, but {h.sub} knew it was right to "
                "tell the truth.",
                s.say(h, f"I am sorry. I broke the {noun}.", ("said", "whispered")),
                s.say(grown, "Thank you for telling me the truth.")]
    out += [s.pick(f"Together they fixed the {noun} with {s.pick('glue', 'tape', 'string')}.",
                   f"{grown.name} helped glue the pieces back together.")]
    out += [s.pick(f"It was not perfect, but {h.name} loved it even more.",
                   f"The {noun} had a crack now, but it made {h.name} smile.")]
    return out, ("telling the truth is always right", "friends forgive each other")


def plot_rain(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    h, f = s.hero, s.friend
    helper = s.adult if s.chance(0.5) else s.friend
    food = s.rng.sample(("sandwiches", "apples", "grapes", "cookies", "juice", "cheese",
                         "strawberries", "crackers", "carrots", "muffins"), 3)
    return [
        s.pick(f"One morning, {h.name} and {helper.name} planned a picnic {s.at_place}.",
               f"One morning, {h.name} wanted to go to {s.place} with {f.name}."),
        f"{h.sub} packed {food[0]}, {food[1]} and {food[2]} in a basket.",
        "But just as they were ready to go, dark clouds came and it began to rain.",
        s.say(h, s.pick("Now we can't go!", "Why does it have to rain today?")),
        f"{h.name} felt {s.pick(*SAD)} and looked out of the window.",
        s.say(helper, s.pick("We can have a picnic inside!", "Let's build a blanket fort!",
                             "Rain can be fun too!")),
        s.pick("They put a blanket on the floor and ate their food in the living room.",
               "They built a fort out of pillows and blankets and ate inside it.",
               "They played games and told funny stories while the rain fell.",
               "They put on their boots and jumped in every puddle they could find."),
        s.pick(f"It was so much fun that {h.name} forgot all about the rain.",
               "Later, the rain stopped and a bright rainbow appeared in the sky."),
    ], ("a rainy day can be fun too", "you can find fun anywhere if you look for it")


def plot_project(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    h = s.hero
    helper = s.adult if s.chance(0.5) else s.friend
    goal, first, wrong, again, result = s.rng.choice(PROJECTS)
    goal = goal.format(gift=f"{h.pos} {s.pick('grandma', 'grandpa', 'teacher', 'best friend')}")
    return [
        f"{s.when}, {h.name} wanted to {goal}.",
        s.pick(f"{h.sub} asked {helper.name} to help.", f"{helper.name} came to help."),
        f"First, they {first}.",
        f"But then {wrong}.",
        s.say(h, s.pick("Oh no! It is ruined!", "Now we have to start all over!")),
        s.say(helper, s.pick("Don't give up. Let's try again.", "Mistakes happen. We can fix it.")),
        f"So they {again}.",
        f"At last, {result}.",
        s.pick(f"{h.name} felt so proud.", f"{h.name} clapped {h.pos} {h.hand}s with joy."),
    ], ("if you don't give up, you can do it", "mistakes help us learn", "practice makes better")


def plot_lost_way(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    h, grown = s.hero, s.adult
    lure = s.pick("a pretty butterfly", "a little rabbit", "a shiny blue bird", "a fluffy squirrel",
                  "a trail of yellow flowers", "a glowing firefly")
    guide = s.pick("owl", "deer", "turtle", "fox", "robin", "hedgehog")
    guide_c = Character(f"the {guide}", guide, False)
    return [
        f"{s.when}, {h.name} went for a walk in the woods with {grown.name}.",
        f"{h.sub} saw {lure} and followed it deeper and deeper into the trees.",
        f"When {h.sub} looked around, {h.sub} did not know where {h.sub} was.",
        f"{h.name} was lost, and {h.sub} felt very {s.pick(*SCARED)}.",
        s.say(h, s.pick("Hello? Is anybody there?", "How will I get home?")),
        f"Then {a(s.pick('wise old', 'kind', 'friendly', 'little') + ' ' + guide)} came by.",
        s.say(guide_c, s.pick("Don't be afraid. I know the way. Follow me.",
                              "Come with me. I will take you back.")),
        f"{h.name} followed the {guide} past {s.pick('a big rock', 'a tall pine', 'a stream')} "
        f"and over {s.pick('a little bridge', 'a mossy log', 'a grassy hill')}.",
        f"Soon {h.sub} saw {grown.name}, who was looking for {h.obj}.",
        s.say(grown, s.pick("I was so worried!", "There you are!")),
        f"{h.name} gave {grown.name} a big hug and thanked the {guide}.",
    ], ("it is best to stay close to your family", "you should always stay on the path")


def plot_new_friend(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    h, f = s.hero, s.friend
    return [
        s.pick(f"{s.when}, {a(f.kind)} named {f.name} came to {s.place} for the first time.",
               f"{s.when}, a new {f.kind} named {f.name} moved in next door to {h.name}."),
        f"{f.name} was very shy and sat all alone {s.rng.choice(SPOTS[:8])}.",
        f"{h.name} wanted to say hello, but {h.sub} felt a little {s.pick(*SCARED)} too.",
        f"At last, {h.sub} took a deep breath and walked over.",
        s.say(h, f"Hi, I am {h.name}. Do you want to play with me?", ("said", "asked")),
        f"{f.name} smiled a small smile.",
        s.say(f, s.pick("Yes, please! I don't know anyone here.", "I would like that a lot.")),
        s.pick("They played tag until they were out of breath.", "They took turns on the swings.",
               "They built a little fort out of sticks.", "They looked for bugs under the rocks.",
               "They made a tall tower out of pine cones."),
        f"Soon {f.name} was laughing, and {f.sub} was not shy anymore.",
    ], ("a kind word can make a new friend", "it takes only one hello to make a friend")


def plot_race(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    h, f = s.hero, s.friend
    goal = s.pick("the big tree", "the fence", "the old oak", "the red barn", "the top of the hill")
    return [
        f"{s.when}, {h.name} and {s.buddy()} were playing {s.at_place}.",
        s.say(f, f"Let's race to {goal}!"),
        s.pick("They ran as fast as they could.",
               f"{h.name} and {f.name} ran with all their might."),
        f"{h.name} was ahead, but then {h.sub} heard a cry behind {h.obj}.",
        f"{f.name} had tripped over a root and hurt {f.pos} knee.",
        f"{h.name} could win the race, but {h.sub} stopped and ran back.",
        s.say(h, s.pick("Are you okay?", "Does it hurt?")),
        f"{h.name} helped {f.name} up, and they walked to {goal} together.",
        s.say(f, s.pick("Thank you for coming back.", "You are a true friend."), ("said",)),
        f"{h.name} did not win the race, but {h.sub} felt {s.pick(*HAPPY)} anyway.",
    ], ("friends matter more than winning", "being kind is better than being first")


def plot_helping(s: Scene) -> tuple[list[str], tuple[str, ...]]:
    h, f = s.hero, s.friend
    who, how, end = s.rng.choice(NEEDY)
    return [
        f"{s.when}, {h.name} was walking {s.at_place} with {s.buddy()}.",
        s.pick(f"Suddenly {h.sub} heard a small sound.", f"{h.name} saw something move."),
        f"It was {who}.",
        s.say(h, s.pick("Oh, the poor thing! We have to help.", "Look! It needs help!")),
        s.say(f, s.pick("What can we do?", "I know how to help!")),
        f"Together they {how}.",
        f"At last, {end}.",
        f"{h.name} and {f.name} felt {s.pick(*HAPPY)} and proud.",
    ], ("helping others makes your heart happy", "even small hands can do big things")


PLOTS = (plot_lost, plot_stuck, plot_sharing, plot_fear, plot_broken, plot_rain, plot_project,
         plot_lost_way, plot_new_friend, plot_race, plot_helping)


def tell_story(rng: random.Random) -> str:
    """One story (a single line of text) from the generator's current state."""
    s = Scene(rng)
    body, morals = rng.choice(PLOTS)(s)
    h, f = s.hero, s.friend
    out = opening(s) + body[:1]
    if s.chance(0.35):  # a line of scenery between the first event and the rest
        out.append(s.rng.choice(SIGHTS) + ".")
    out += body[1:]
    if s.chance(0.4):
        out.append(s.pick(f"That night, {h.name} fell asleep with a smile on {h.pos} face.",
                          f"It was a day {h.name} would never forget.",
                          f"{h.name} went home {s.pick(*HAPPY)} and tired.",
                          f"From that day on, {h.name} and {f.name} were best friends."
                          if any(f.name in x for x in body) else f"{h.name} smiled all day."))
    if s.chance(0.35):
        moral = rng.choice(morals)
        out.append(s.pick(f"The moral of the story is that {moral}.",
                          f"{h.name} learned that {moral}."))
    return " ".join(cap(x) for x in out)


def generate_stories(n: int, seed: int = 0) -> list[str]:
    """n distinct stories of 60-150 words, the same for the same seed on every machine."""
    rng = random.Random(seed)
    stories: list[str] = []
    seen: set[str] = set()  # membership only: iteration order never depends on it
    while len(stories) < n:
        story = tell_story(rng)
        if 60 <= len(story.split()) <= 150 and story not in seen:
            seen.add(story)
            stories.append(story)
    return stories


def write_story_splits(out_dir: str | Path, n_train: int = 4000, n_val: int = 300,
                       n_test: int = 300, seed: int = 1337) -> list[Path]:
    """Write out_dir/stories.{train,val,test}, one story per line, disjoint; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stories = generate_stories(n_train + n_val + n_test, seed)
    splits = (("train", stories[:n_train]), ("val", stories[n_train:n_train + n_val]),
              ("test", stories[n_train + n_val:]))
    paths = []
    for split, lines in splits:
        path = out_dir / f"stories.{split}"
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(line + "\n" for line in lines))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="data/stories")
    for flag, default in (("n_train", 4000), ("n_val", 300), ("n_test", 300), ("seed", 1337)):
        p.add_argument(f"--{flag}", type=int, default=default)
    args = p.parse_args(argv)
    for path in write_story_splits(args.out, args.n_train, args.n_val, args.n_test, args.seed):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
