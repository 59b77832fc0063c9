"""What a participant's page may not carry: a model's or method's name in its words or attributes, an image that is
not an embedded PNG without metadata (tests of blinding share these)."""

import base64
import io
import re
from html.parser import HTMLParser

from PIL import Image

from saliency.models import Method, Variant

VARIANT_CODES = set(Variant.values)
METHOD_CODES = set(Method.values)
MODEL_WORDS = ("natural training", "adversarial", "smoothing", "median", "gaussian", "pgd", "variant",
               "checkpoint", "predicted", "confidence")


class Attributes(HTMLParser):
    """A page's attribute values, its images' attributes and its text."""

    def __init__(self):
        super().__init__()
        self.values, self.images, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            self.values.append(value or "")
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def embedded_png(src):
    """The PNG bytes of an <img src="data:..."> (the only kind of image source the survey uses)."""
    match = re.fullmatch(r"data:image/png;base64,([A-Za-z0-9+/]+=*)", src)
    assert match, f"not an embedded PNG: {src[:60]}"
    return base64.b64decode(match.group(1), validate=True)


def words(text):
    return set(re.split(r"[^A-Za-z0-9]+", text))


def assert_blind(html, tokens, codes=VARIANT_CODES):
    """No attribute of `html` names a model (or one of `codes`) once its embedded images, the trial `tokens` and the
    CSRF token are set aside; its text names no model by a word of MODEL_WORDS or a code that is no English word;
    every image is an embedded PNG without metadata, 224 px square. Returns the parsed page."""
    parsed = Attributes()
    parsed.feed(html)
    for value in parsed.values:
        value = re.sub(r"^data:image/png;base64,[A-Za-z0-9+/]+=*$", "", value)  # an embedded image
        for token in tokens:
            value = value.replace(token, "")
        value = re.sub(r"^[A-Za-z0-9]{64}$", "", value)  # the CSRF token
        assert not codes & words(value), value
    text = " ".join(parsed.text)
    assert not [word for word in MODEL_WORDS if word in text.lower()]
    # Single-letter codes are ordinary words in English text ("A few pages..."); the others are not.
    assert not {code for code in codes if len(code) > 1} & words(text)
    for img in parsed.images:
        assert not Image.open(io.BytesIO(embedded_png(img["src"]))).info, "a PNG with metadata could name its model"
        assert img["width"] == img["height"] == "224"
    return parsed
