"""Hand-written text for the bundled sample pages (used by hwlib.sample_data; no code here).

Every article, menu and foreign-language page below was written for this kit. Names, addresses,
e-mail addresses, phone numbers and identity numbers are invented (555 numbers, example domains,
documentation IP ranges).
"""

# key -> (title, paragraphs). Each article is long enough to pass the Gopher rules on its own.
ARTICLES = {
    "honeybees": (
        "How Honeybees Make Honey",
        [
            "A honeybee colony is a crowded family of thousands of workers, a few hundred drones "
            "and "
            "a single queen. The workers are all female, and they change jobs as they grow older. "
            "Young bees clean cells and feed larvae, middle-aged bees build comb and guard the "
            "entrance, and the oldest bees fly out to collect nectar, pollen and water for the "
            "hive.",
            "Nectar is mostly water with some sugar dissolved in it. A forager sucks it up with "
            "her "
            "long tongue and carries it home in a special honey stomach. Back at the hive she "
            "passes "
            "it to a house bee, who adds enzymes that split the sugar and then spreads the droplet "
            "thinly inside a wax cell so that the extra water can evaporate.",
            "The bees fan their wings over the open cells for days until the honey is thick enough "
            "to keep without spoiling. Then they seal each cell with a thin cap of fresh wax. A "
            "strong colony can store far more honey than it needs for the winter, which is why a "
            "careful beekeeper is able to take some of it without harming the bees.",
        ],
    ),
    "bicycle": (
        "A Short History of the Bicycle",
        [
            "The first machine that looked a little like a bicycle appeared in Germany in 1817. It "
            "had two wooden wheels, a frame and a steering bar, but no pedals at all. The rider "
            "sat "
            "on it and pushed along the ground with both feet, which was faster than walking on a "
            "good road and rather tiring on a bad one.",
            "Pedals came later, fixed straight to the front wheel. Because one turn of the pedals "
            "meant one turn of the wheel, makers built front wheels that were taller and taller, "
            "and "
            "the famous high wheeler was born. Within a few years riders discovered how painful a "
            "fall from such a height could be, and many towns banned the machines from the "
            "streets.",
            "The safety bicycle of the 1880s solved the problem with two wheels of the same size "
            "and "
            "a chain that drove the rear wheel. Soon after, tyres filled with air replaced solid "
            "rubber, and the ride became smooth enough for everyday travel. Bicycles gave workers "
            "and students a cheap way to move around, and the basic design has hardly changed "
            "since.",
        ],
    ),
    "tides": (
        "Why the Sea Has Tides",
        [
            "Twice a day the sea creeps up the beach and then slips away again. These tides are "
            "caused mainly by the gravity of the moon, which pulls a little harder on the side of "
            "the earth that faces it than on the far side. The difference stretches the oceans "
            "into "
            "two bulges, one under the moon and one on the opposite side of the planet.",
            "As the earth turns, each coast passes through both bulges, so most places see two "
            "high "
            "tides and two low tides in a little more than a day. The sun also pulls on the "
            "oceans. "
            "When the sun and the moon line up at new moon and full moon, their pulls add together "
            "and the tides are larger than usual; these are called spring tides.",
            "The shape of the coast matters as much as the sky. In a wide open ocean the water "
            "rises "
            "only a short distance, but in a long narrow bay the tide can be funnelled and grow "
            "many metres high. Sailors and people who fish along the shore still check printed "
            "tide "
            "tables, because a channel that is deep in the morning may be dry by lunchtime.",
        ],
    ),
    "sourdough": (
        "Baking Bread with a Sourdough Starter",
        [
            "A sourdough starter is a simple mixture of flour and water that has been left to "
            "ferment. Wild yeasts and friendly bacteria from the flour and the air settle in it "
            "and "
            "begin to feed. If the baker adds fresh flour and water every day, the starter becomes "
            "lively and bubbly within about a week and smells pleasantly sour.",
            "To make a loaf, the baker mixes some of the active starter with more flour, water and "
            "salt. The dough rests for several hours while the yeasts produce gas that makes it "
            "rise "
            "and the bacteria produce acids that give the bread its tangy taste. Folding the dough "
            "gently a few times during this rest helps to build a strong and stretchy structure.",
            "After shaping, the loaf often spends a night in the fridge, which slows everything "
            "down "
            "and deepens the flavour. It is then baked in a very hot oven, ideally inside a heavy "
            "pot "
            "with a lid that traps steam for the first part of the bake. The result is a crisp "
            "dark "
            "crust, an open crumb and a loaf that stays fresh for several days.",
        ],
    ),
    "lighthouses": (
        "The Life of a Lighthouse Keeper",
        [
            "For more than two hundred years lighthouses were looked after by keepers who lived at "
            "the foot of the tower. Their main job was to keep the lamp burning from sunset to "
            "sunrise, and that meant trimming wicks, carrying oil up the spiral stairs and "
            "polishing "
            "the great glass lens until it was perfectly clean.",
            "Many lights stood on lonely rocks far out at sea, and the keepers there worked in "
            "teams "
            "that were relieved by boat every few weeks. In a storm the relief boat could not "
            "land, "
            "so the men had to stretch their food and wait. They passed the long evenings by "
            "reading, "
            "painting, carving small models and writing careful notes about the weather.",
            "Electric lamps, automatic switches and radio signals slowly made the keepers "
            "unnecessary, and the last of them left their towers near the end of the twentieth "
            "century. Some of the old cottages are now small museums, where visitors can climb to "
            "the lantern room and imagine the quiet routine of a night on watch.",
        ],
    ),
    "watercycle": (
        "The Journey of a Drop of Water",
        [
            "The water in a glass on your table has been around for a very long time. It may have "
            "fallen as snow on a mountain, flowed down a river to the sea and risen again as "
            "vapour "
            "many thousands of times. Scientists call this endless movement the water cycle, and "
            "it "
            "is powered almost entirely by the heat of the sun.",
            "When sunlight warms the surface of a lake or an ocean, some of the water turns into "
            "an "
            "invisible gas and rises with the warm air. High above the ground the air is cooler, "
            "so "
            "the vapour condenses into tiny droplets around specks of dust. Billions of these "
            "droplets together form the clouds that we see drifting across the sky.",
            "When the droplets grow heavy enough they fall back down as rain, hail or snow. Some "
            "of "
            "that water soaks into the soil and feeds plants, some runs off into streams, and some "
            "sinks deep underground where it can stay for centuries. Sooner or later every drop "
            "returns to the air and the whole journey begins again.",
        ],
    ),
    "garden": (
        "Neighbours Turn an Empty Lot into a Community Garden",
        [
            "For years the corner of Maple Street and Third Avenue was an empty lot full of weeds "
            "and broken glass. This spring a group of neighbours asked the city for permission to "
            "use it, and with the help of a small grant they cleared the rubbish, brought in fresh "
            "soil and built twenty raised beds from recycled timber.",
            "Each bed is looked after by a different household, and the gardeners meet every "
            "Saturday morning to share tools, seeds and advice. Children from the nearby school "
            "planted a row of sunflowers along the fence, and a retired teacher runs a short "
            "lesson "
            "on composting for anyone who wants to learn how to turn kitchen scraps into soil.",
            "The organisers say the garden has done more than produce tomatoes and beans. People "
            "who "
            "had lived on the same street for years without speaking now stop to chat over the "
            "fence, and the lot has become a quiet place to sit in the evening. They hope to add a "
            "small greenhouse next year so that the beds can be used through the winter.",
        ],
    ),
    "volcanoes": (
        "What Happens Inside a Volcano",
        [
            "Deep under the ground the rock is so hot that some of it melts into a thick liquid "
            "called magma. Because magma is lighter than the solid rock around it, it slowly rises "
            "and collects in chambers a few kilometres below the surface. Gases such as water "
            "vapour "
            "and carbon dioxide stay dissolved in it as long as the pressure is high.",
            "When the magma climbs closer to the surface the pressure drops and the gases start to "
            "form bubbles, much like the bubbles in a bottle of fizzy water that has just been "
            "opened. If the magma is runny the gas escapes easily and lava flows gently down the "
            "slopes. If the magma is sticky the gas is trapped until it bursts out in an "
            "explosion.",
            "Scientists watch active volcanoes closely for warning signs. Small earthquakes, a "
            "swelling of the ground and changes in the gases coming out of cracks can all show "
            "that "
            "fresh magma is on the move. These measurements cannot predict an eruption to the "
            "hour, "
            "but they often give nearby towns enough time to prepare and to move people to safety.",
        ],
    ),
    # Served as windows-1252 bytes under a utf-8 header, hence the curly quotes and accents.
    "cafe": (
        "A Guide to the Caf\u00e9s of the Old Town",
        [
            "The old town has more caf\u00e9s than bakeries, and each one has its own character. "
            "At \u201cLe Petit Nid\u201d the owner roasts the beans herself in a small machine "
            "behind the counter, and the smell of coffee drifts out into the square every morning "
            "\u2014 it is the best way to find the place.",
            "Across the bridge, the Caf\u00e9 Cr\u00e8me serves a na\u00efve but charming menu of "
            "toasted sandwiches, soup and a famous apple tart. The tables by the window are the "
            "first to go, so it\u2019s worth arriving early if you want to watch the boats while "
            "you eat.",
            "For a quiet afternoon, try the tiny reading room above the bookshop on Church Lane. "
            "There is no music and no wifi, only a few armchairs, a shelf of old novels and a pot "
            "of tea that the owner keeps warm for as long as you stay. Regulars say it is the "
            "calmest place in the whole town.",
        ],
    ),
}

COOKIE_BANNER = (
    '<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience. '
    "<button>Accept all</button> <button>Manage settings</button></div>"
)

BOILERPLATE_NAV = """<header class="site-header"><a href="/">Riverside Daily</a>
<nav class="main-menu"><ul><li><a href="/">Home</a></li><li><a href="/local">Local</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li>
<li><a href="/opinion">Opinion</a></li><li><a href="/contact">Contact us</a></li></ul></nav>
<form class="search"><input name="q" placeholder="Search"><button>Go</button></form></header>
<div class="breadcrumb"><a href="/">Home</a> &gt; <a href="/local">Local news</a></div>
<aside class="sidebar"><h3>Most read</h3><ul><li><a href="/a">Bridge repairs begin</a></li>
<li><a href="/b">School wins chess cup</a></li><li><a href="/c">New bus timetable</a></li></ul>
</aside>
<div class="share-buttons"><a href="#">Share on social media</a> <a href="#">Email</a></div>"""

FOOTER = """<footer class="site-footer"><ul><li><a href="/about">About us</a></li>
<li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of use</a></li></ul>
<p>Copyright 2024 Riverside Daily. All rights reserved.</p>
<div class="newsletter">Subscribe to our newsletter for weekly updates.</div></footer>"""

PII_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Visiting the Riverside Public Library</title></head><body>
<h1>Visiting the Riverside Public Library</h1>
<p>The library at 1200 Harbor Road, Springfield, OR 97477 is open from 9:30 to 18:00 on weekdays
and from 10:00 to 16:00 on Saturdays. It has been serving the town since 1921, and the reading
room was restored in 2019 at a cost of $1,250,000.</p>
<p>Questions about your account can be sent to help@riverside-library.example.org or to the
front desk at (555) 123-4567. The children's department answers on 555-123-4568, the archive on
555.123.4569 and the events team on 555 123 4570. Callers from abroad can use +1 5551234571 or
+15551234572.</p>
<p>When you apply for a card, never send your social security number, such as 078-05-1120, by
e-mail; the staff will ask for it at the desk if it is really needed. Our public catalogue runs on
the server at 192.0.2.44, and the wireless network hands out addresses such as 10.0.0.17.</p>
<p>The next book sale is on 2024-06-15, from 10:30 until 14:00, in room 12. Paperbacks cost $2.50
and hardbacks $4.00, and the library app version 3.2.1 lets you reserve titles in advance. The
first 250 visitors receive a free tote bag.</p>
</body></html>"""

RANT_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Review: the Stormproof Umbrella</title></head><body>
<h1>Review: the Stormproof Umbrella</h1>
<p>I bought this umbrella because the box promised that it would survive any storm. On the very
first windy day it turned inside out, two of the ribs snapped and the handle came off in my hand.
What a load of crap.</p>
<p>The company answered my complaint with a form letter that told me to read the instructions
again. I did, and the instructions say nothing about wind, which is a damn strange thing to leave
out of the manual for a storm umbrella.</p>
<p>To be fair, the fabric is a nice colour and it dries quickly. But an umbrella that breaks in
the first breeze is not worth the money, and I would not recommend it to anyone who lives in a
town with weather.</p></body></html>"""

FRENCH_PAGE = """<!DOCTYPE html><html lang="fr"><head><title>Le pain du matin</title></head><body>
<h1>Le pain du matin</h1>
<p>Dans notre petit village, la boulangerie ouvre ses portes bien avant le lever du soleil. Le
boulanger arrive vers trois heures pour préparer la pâte, allumer le four et façonner les
baguettes une par une. Quand les premiers clients entrent, l'odeur du pain chaud remplit déjà
toute la rue.</p>
<p>Chaque famille a ses habitudes : certains prennent une baguette bien cuite, d'autres préfèrent
un pain de campagne ou quelques croissants pour le dimanche. La boulangère connaît presque tout le
monde par son prénom et demande souvent des nouvelles des enfants ou du jardin.</p>
<p>Le métier est dur, car il faut travailler la nuit et pendant les jours de fête, mais le
boulanger dit qu'il ne changerait pour rien au monde. Pour lui, un bon pain demande surtout de la
patience, une farine de qualité et beaucoup d'attention.</p></body></html>"""

GERMAN_PAGE = """<!DOCTYPE html><html lang="de"><head><meta charset="utf-8">
<title>Ein Spaziergang im Wald</title></head><body>
<h1>Ein Spaziergang im Wald</h1>
<p>Ein Spaziergang im Wald ist zu jeder Jahreszeit ein kleines Abenteuer. Im Frühling wachsen
überall frische Blätter, im Sommer spenden die hohen Buchen angenehmen Schatten, und im Herbst
leuchtet der Boden in Gelb, Rot und Braun. Selbst im Winter, wenn alles still ist, findet man
Spuren von Rehen und Füchsen im Schnee.</p>
<p>Förster kümmern sich darum, dass der Wald gesund bleibt. Sie pflanzen junge Bäume, entfernen
kranke Stämme und achten darauf, dass genug altes Holz für Käfer und Spechte übrig bleibt. Viele
Schulklassen besuchen den Wald, um mehr über Pflanzen und Tiere zu lernen.</p>
<p>Wer den Wald schützen möchte, bleibt auf den Wegen, nimmt seinen Müll wieder mit und lässt
Blumen und Pilze stehen. So können auch die nächsten Generationen die Ruhe und die frische Luft
zwischen den Bäumen genießen.</p></body></html>"""

# Mostly Spanish with a short English summary: it has English stop words (so it passes the
# Gopher rules) but the language stage must still reject it.
SPANISH_PAGE = """<!DOCTYPE html><html lang="es"><head><meta charset="utf-8">
<title>Un día junto al mar</title></head><body>
<h1>Un día junto al mar</h1>
<p>Summary in English: a day by the sea with the fishing boats and the old harbour.</p>
<p>Muy temprano por la mañana, los pescadores del puerto preparan sus barcas y revisan las redes
con mucho cuidado. El mar está tranquilo y las gaviotas vuelan en círculos sobre el agua,
esperando que alguien les lance un trozo de pan. Poco a poco, el pueblo se despierta y las
cafeterías abren sus puertas.</p>
<p>A mediodía, las familias llegan a la playa con sombrillas, toallas y bocadillos. Los niños
construyen castillos de arena y buscan conchas entre las rocas, mientras los abuelos leen el
periódico a la sombra. Por la tarde, el viento del oeste trae olas más grandes y los surfistas
salen al agua.</p>
<p>Cuando el sol se esconde detrás de los faros, el cielo se vuelve naranja y rosa. Las barcas
vuelven al puerto cargadas de pescado fresco, y en la plaza se prepara una cena sencilla que
todos comparten bajo las luces del verano.</p></body></html>"""

RUSSIAN_PAGE = """<!DOCTYPE html><html lang="ru"><head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">
<title>Чай по вечерам</title></head><body>
<h1>Чай по вечерам</h1>
<p>В нашей семье каждый вечер начинается с чая. Бабушка ставит на стол большой самовар, достаёт
варенье из малины и вишни, и все собираются вокруг стола, чтобы рассказать, как прошёл день.</p>
<p>Зимой чай пьют долго и не спеша, а летом его часто берут с собой на дачу в термосе. Гости
знают, что у нас им всегда нальют горячую чашку и предложат свежие пироги.</p></body></html>"""

CHINESE_PAGE = """<!DOCTYPE html><html lang="zh"><head><meta charset="gb2312">
<title>喝茶的习惯</title></head><body>
<h1>喝茶的习惯</h1>
<p>在我们的城市里，很多人每天早上都要喝一杯热茶。老人们喜欢在公园里一边下棋一边喝茶，年轻人则常常在
上班的路上买一杯奶茶。</p>
<p>春天的新茶最受欢迎，茶叶的颜色很绿，味道也很清香。朋友来家里做客的时候，主人总会先泡一壶好茶，
表示欢迎。</p></body></html>"""

# Short extras for the topic dataset: distinct texts on the same subjects as the articles, so
# that shared vocabulary alone never makes two texts look like duplicates.
TOPIC_EXTRA = [
    "Bees visit flowers for nectar, and on the way they carry pollen from one plant to the next, "
    "which helps fruit trees and many crops to set seed.",
    "A puncture is the most common bicycle repair: remove the wheel, find the hole in the inner "
    "tube, patch it, and pump the tyre back up before you ride on.",
    "Fishing boats wait in the harbour for the evening tide, because the channel is too shallow "
    "to cross safely while the water is low.",
    "Rye flour makes a darker and denser sourdough loaf than white wheat flour, and it ferments "
    "more quickly in a warm kitchen.",
    "Some old lighthouses now run on solar panels and batteries, and a technician visits only a "
    "few times a year to check the equipment.",
    "Plants release water vapour through tiny pores in their leaves, and a large tree can send "
    "hundreds of litres into the air on a hot day.",
    "The quiet river path behind the garden is a good place for an evening walk, with benches "
    "under the willows and herons fishing in the shallows.",
    "Hot springs and geysers are often found near volcanoes, where underground water is heated "
    "by the rocks around a magma chamber.",
]
