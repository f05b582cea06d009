"""The word lists and story tables of hwlib.stories (data, kept apart from the story logic).

Plain tuples in a fixed order, never sets: the stories a seed gives depend on this order.
"""

from __future__ import annotations


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(" ".join(w.split()) for w in text.split(sep))  # line breaks are just spaces


GIRLS = _words("""Lily Mia Anna Lucy Emma Zoe Sara Ella Ava Rosie Nora Ivy Sue Amy Mila Ruby Daisy
    Luna Kate Molly Hana Nina Tara Jen Bella Clara Maya Elsa Jane Rita Olive Greta Alice Beth Cora
    Dora Eva Fay Gina Holly Iris June Kira Lena Mabel Nell Pia Rose Sadie Tess Vera Wendy Yara Zara
    Ada Bea Cleo Dana Erin Flora Gwen Hazel Isla Jade Lola Mira Naomi Polly Stella Thea Violet Willa
    Abby Bree Carly Delia Edie Faith Grace Heidi Ingrid Josie Kelsey Lacey Megan Nadia Odette Paige
    Rachel Sophie Tilly Ursula Wren Yasmin Zelda Agnes""")
BOYS = _words("""Tom Ben Max Jack Leo Tim Finn Noah Sam Ollie Jake Dan Bob Ray Eli Toby Milo Rex Pip
    Owen Hugo Luke Adam Joe Ned Theo Kai Oscar Felix Andy Igor Otto Alex Arlo Carl Cody Drew Evan
    Fred Gus Hank Ian Jon Ken Liam Nate Omar Paul Rory Seth Ted Vic Wade Zack Abe Bruno Caleb Dex
    Eddie George Harry Ivan Jasper Kevin Louis Marco Nico Peter Ralph Simon Victor Walter Yusuf
    Aaron Barney Colin Dylan Elliot Flynn Gavin Henry Isaac Jamie Kurt Lenny Morris Neil Percy
    Quentin Rufus Stan Tobias Umar Vince Wesley Xavier Zane""")
ANIMALS = _words("""dog cat rabbit bear fox owl duck mouse frog pig lion elephant turtle bird
    squirrel puppy kitten horse giraffe penguin hedgehog monkey lamb goat ant bee otter eagle deer
    wolf koala panda zebra camel hippo tiger seal chick pony moose badger beaver raccoon mole crab
    snail parrot robin swan sheep cow donkey kangaroo bunny calf crow ostrich iguana octopus
    alligator eel ox""")
TRAITS = _words("""happy kind brave shy curious silly clever friendly gentle playful sleepy cheerful
    busy funny quiet smart honest eager bold calm lively merry polite patient careful clumsy helpful
    generous chatty thoughtful bouncy fluffy tidy messy daring lucky jolly wise loving timid nosy
    speedy adventurous energetic imaginative excited""")
HOMES = _words("""in a small house near the woods, in a little town by the sea, on a big farm, in a
    cozy house on a hill, in a busy city, in a quiet village, by a sparkling lake, near a big green
    forest, in a yellow house with a red door, at the edge of a meadow, in a tiny cottage with a
    garden, on a houseboat on the river, in a tall apartment building, under a big oak tree, in a
    burrow under a hill, near an old windmill, on a quiet street, in a log cabin in the mountains,
    in a treehouse in the woods, next to a bakery""", ",")
HOBBIES = _words("""play outside, read books, sing songs, draw pictures, dig in the dirt, climb
    trees, run and jump, build towers with blocks, look at the stars, splash in puddles, dance in
    the sun, collect pretty rocks, play hide and seek, pick flowers, watch the clouds, make up
    stories, count the birds, bake, fly kites, swim in the lake, ride bikes, paint with bright
    colors, play the drum, skip stones, jump rope, chase butterflies, feed the ducks, plant seeds,
    ask questions, tell jokes, blow bubbles, whistle, roll down hills, visit the library, help in
    the kitchen, play catch, build sandcastles, make paper boats, listen to the rain, hum little
    songs, look for bugs, do puzzles""", ",")
# (place, preposition for "at the place"): the plots are outdoors, so every place is too.
PLACES = tuple(tuple(p.split(":")) for p in _words("""the park:at, the beach:at, the forest:in, the
    garden:in, the farm:on, the lake:by, the meadow:in, the playground:at, the pond:by, the
    river:by, the zoo:at, the woods:in, the field:in, the orchard:in, the hill:on, the backyard:in,
    the seaside:at, the mountain:on, the island:on, the valley:in, the jungle:in, the campsite:at,
    the fair:at, the harbor:at, the village square:in, the schoolyard:in, the riverbank:on, the
    sunflower field:in, the apple farm:on, the fountain:by""", ","))
WHENS = _words("""One day, One sunny morning, One afternoon, One windy day, One summer evening, On a
    cold winter day, One bright spring morning, Early one morning, One Saturday, One warm afternoon,
    Last summer, One autumn day, One foggy morning, One Sunday, One chilly evening, On a hot summer
    day, One quiet morning, One cloudy day, One fine day, After breakfast one day, On the first day
    of spring, One Tuesday, One breezy afternoon""", ",")
ADULTS = (("mom", True), ("dad", False), ("grandma", True), ("grandpa", False), ("aunt", True),
          ("uncle", False))
COLORS = _words("""red blue green yellow orange purple pink white brown gold shiny striped spotted
    little big old new soft tiny bright gray black silver sparkly fuzzy wooden huge small funny
    special lovely dusty magic lucky ancient enormous""")
TOYS = _words("""ball, kite, toy car, doll, teddy bear, toy boat, balloon, drum, robot, toy train,
    whistle, yo-yo, spinning top, jump rope, truck, umbrella, hat, book, shell, feather, marble,
    key, bell, crayon, scarf, acorn, egg, pinwheel, puppet, wagon, sailboat, rocket, dinosaur,
    ukulele, xylophone, trumpet, flute, compass, lantern, backpack, blanket, pillow, sweater, boot,
    mitten, necklace, bracelet, coin, button, pebble, paintbrush, notebook, kazoo, race car, fire
    truck, rubber duck, toy horse, pine cone, unicorn""", ",")
TOSSABLE = _words("kite, ball, balloon, hat, frisbee, paper plane, scarf, toy plane, beach ball, "
                  "boot, mitten, rubber duck, sock", ",")
FRAGILE = _words("""cup, bowl, vase, toy car, robot, kite, drum, jar, clock, lamp, toy plane, music
    box, egg, mirror, snow globe, teapot, glass bird, plate, piggy bank, flower pot, lantern, watch,
    clay pot, toy boat""", ",")
SIGHTS = _words("""Birds sang in the tall trees, Bees buzzed from flower to flower, The sky was a
    clear bright blue, Fluffy white clouds drifted across the sky, A cool breeze rustled the leaves,
    The grass sparkled with morning dew, Butterflies danced over the daisies, The air smelled of
    pine and wild roses, Frogs croaked softly by the water, Golden leaves crunched under every step,
    Squirrels chased each other up the trees, The sun felt warm and gentle, Little boats bobbed on
    the shimmering water, A rooster crowed somewhere far away, Crickets chirped in the long grass,
    Puffy dandelions swayed in the wind, Ducks paddled in a neat little line, Cherry blossoms
    drifted down like pink snow, A woodpecker tapped on an old trunk, Ladybugs crawled along the
    fence, The smell of fresh bread came from a nearby bakery, Seagulls circled high above, Tall
    sunflowers nodded their heavy heads, A rainbow of kites flapped in the wind""", ",")
HAPPY = ("happy", "glad", "joyful", "cheerful")
SAD = ("sad", "upset", "unhappy", "gloomy")
SCARED = ("scared", "afraid", "frightened", "nervous")
ANGRY = ("angry", "cross", "grumpy", "upset")
SPOTS = _words("""under a bush, behind a big rock, in the tall grass, under a pile of leaves, next
    to an old tree, inside a hollow log, by the fence, under a bench, near a muddy puddle, behind a
    flower pot, on top of an anthill, in a bird's nest, beside the swings, under a wooden bridge,
    between two big roots, behind a shed, near the old well, under a picnic table, in a patch of
    clover, behind a stack of hay, under a fallen branch""", ",")


FEARS = (  # (what, when it came, what the hero did, what the hero found out)
    ("the dark", "When the light went out at bedtime, the room was very dark.",
     "turned on a small night light shaped like a star", "the dark room was the same cozy room"),
    ("thunder", "One evening, a big storm came and the thunder went boom.",
     "counted slowly between the flashes and the booms", "the storm was far away"),
    ("the big slide", "{at_place}, there was a very tall slide.",
     "held on tight and slid down very slowly", "the slide was fast and fun"),
    ("deep water", "{at_place}, the water looked deep and cold.",
     "put one foot in, then the other", "the water was warm and fun to splash in"),
    ("the big dog next door", "Every day, the big dog next door barked loudly.",
     "held out one {hand} slowly for the dog to sniff", "the dog only wanted to play"),
    ("climbing high", "{at_place}, there was a tall old tree with a swing at the top.",
     "climbed one branch at a time without looking down", "the view from the top was beautiful"),
)


PROJECTS = (  # (goal, first step, what went wrong, the second try, how it turned out)
    ("bake a cake", "mixed flour, eggs and sugar in a big bowl",
     "the bowl slipped and flour went everywhere", "cleaned up and started again, more carefully",
     "the cake came out of the oven soft and sweet"),
    ("build a sandcastle", "piled up wet sand and shaped tall towers",
     "a big wave washed the castle away", "built it again, farther from the water",
     "the new castle was even bigger than the first one"),
    ("make a card for {gift}", "drew a big sun and colored it yellow",
     "a cup of water spilled all over the paper", "let it dry and turned the wet spot into a lake",
     "the card was bright and beautiful"),
    ("build a birdhouse", "nailed small pieces of wood together", "the roof fell off",
     "asked for help and used longer nails", "a little bird came to live in it"),
    ("plant a garden", "dug small holes and put seeds in them", "no plants came up for many days",
     "kept watering the seeds every morning", "tiny green shoots came up, and then flowers"),
    ("build a snowman", "rolled three big balls of snow", "the head fell off and broke",
     "packed the snow tighter and tried again", "the snowman stood tall with a carrot nose"),
)


NEEDY = (  # (who needed help, how the children helped, how it ended)
    ("a little bird with a hurt wing", "made a soft bed of leaves in a box and gave it water",
     "the bird's wing got better and it flew up into the sky"),
    ("a baby duck that had lost its mother", "walked with it along the water",
     "they found the mother duck, and the two ducks swam away together"),
    ("a tiny kitten stuck in a thorny bush", "gently pulled the branches apart",
     "the kitten jumped out and purred"),
    ("a hungry squirrel with no nuts for winter", "gathered a pile of acorns",
     "the squirrel carried them to its home in the tree"),
    ("a ladybug stuck on its back", "turned it over with a leaf", "the ladybug flew away"),
)
