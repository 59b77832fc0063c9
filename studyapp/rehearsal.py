"""Play simulated participants through the real survey, page by page, with Django's test client.

Each simulated participant is enrolled as a real one, opens their invite link, and answers every
page through the same URLs, forms, CSRF checks and validation a person meets, reading each form
from the page's HTML. The page hides which model made a map, so the simulator looks the trial up
by the opaque token its form carries (the plan in the database) to decide, from `AnswerModel`,
how this participant answers it.
"""

import base64
import binascii
import itertools
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import reverse

from . import scoring
from .enrollment import enroll_participants, invite_url
from .models import SIMULATED_SOURCE, Trial
from .schema import ACCEPT, DISTINCTION, MODEL_OUTPUT, PREDICTED, TRUE_CLASS, VERIFICATION
from .simulation import participant_rng, read_page

REDIRECTS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 10
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXTRA_PAGES = 10  # consent, instructions, background, completion, and slack for redirects
PAGES_PER_TRIAL = 2  # a trial's page, and a learning page's feedback


class RehearsalError(RuntimeError):
    """The survey did not behave as a participant expects (a refused answer, a missing page)."""


@dataclass
class Tally:
    participants: int = 0
    completed: int = 0
    ratings: int = 0
    choices: int = 0
    attention_checks: int = 0
    attention_failed: int = 0
    task_answers: int = 0  # scored questions of task pages
    task_right: int = 0


def default_host():
    """A host the site answers to: the first literal entry of ALLOWED_HOSTS."""
    literal = [host for host in settings.ALLOWED_HOSTS if host != "*" and not host.startswith(".")]
    return literal[0] if literal else "localhost"


class Rehearsal:
    """`on_page(participant, client, response)` sees every page a participant is shown (after redirects)."""

    def __init__(self, study, answers, *, seed, host="localhost", secure=False, on_page=None):
        self.study, self.answers, self.seed = study, answers, seed
        self.host, self.secure = host, secure
        self.on_page = on_page or (lambda participant, client, response: None)
        self.origin = f"{'https' if secure else 'http'}://{host}"
        self.complete_path = reverse("studyapp:complete")
        self.tally = Tally()

    def run(self, count, progress=lambda participant: None):
        """Enrol and play `count` participants; all of it or, on any error, none (one transaction)."""
        with transaction.atomic():
            participants = enroll_participants(self.study, count, source=SIMULATED_SOURCE)
            for index, participant in enumerate(participants):
                self.play(participant, participant_rng(self.seed, index))
                progress(participant)
        return participants

    def play(self, participant, rng):
        try:
            self.walk(participant, rng)
        except RehearsalError:
            raise
        except Exception as error:  # a page that crashed: say where, keep the cause for --traceback
            raise RehearsalError(f"{participant}: the survey failed with {type(error).__name__}: {error}") from error

    def walk(self, participant, rng):
        client = Client(enforce_csrf_checks=True, HTTP_HOST=self.host)
        self.tally.participants += 1
        response = self.get(client, invite_url(participant))
        for pages in itertools.count():
            if response is not None:
                self.on_page(participant, client, response)
            if response is None or response.request["PATH_INFO"] == self.complete_path:
                self.tally.completed += 1  # the completion page, or the study's redirect off-site
                return
            path = response.request["PATH_INFO"]
            if pages > EXTRA_PAGES + PAGES_PER_TRIAL * participant.trials.count():
                raise RehearsalError(f"{participant}: the survey did not reach completion; stopped on {path}.")
            page = read_page(response.content.decode())
            check_images(page.images, path)
            posting = [form for form in page.forms if form.method == "post"]
            if not posting and len(page.next_links) == 1:  # a learning page's feedback: Next
                response = self.get(client, page.next_links[0])
                continue
            if len(posting) != 1:
                raise RehearsalError(f"{participant}: expected one form on {path}, found {len(posting)}.")
            form = posting[0]
            data = {**form.hidden(), **self.fill(participant, form, rng)}
            response = self.post(client, form.action or path, data, referer=path)

    def fill(self, participant, form, rng):
        """The answers to this page's form, as a participant would give them."""
        if "agree" in form.names("checkbox"):
            return {"agree": "on"}
        if "degree" in form.selects:
            return {"degree": str(rng.choice(form.selects["degree"])), "cv_experience_years": str(rng.integers(0, 11))}
        if "trial" not in form.hidden():
            return {}  # a Continue button (instructions)
        trial = Trial.objects.select_related("stimulus__source_image", "block", "participant__task_condition", "left",
                                             "middle", "right", "fourth").get(participant=participant,
                                                                              token=form.hidden()["trial"])
        if trial.in_task_block:
            return self.fill_task(form, trial, rng)
        if trial.kind == Trial.Kind.RATING:
            sufficiency, trust = self.answers.rating(rng, trial.stimulus.variant, trial.stimulus.method)
            self.tally.ratings += 1
            return {"sufficiency": str(sufficiency), "trust": str(trust)}
        if trial.kind == Trial.Kind.ATTENTION:  # the first statement is answered like a rating (and not stored)
            sufficiency, _ = self.answers.rating(rng, trial.stimulus.variant, trial.stimulus.method)
            answer = self.answers.attention(rng, trial.attention_target)
            self.tally.attention_checks += 1
            self.tally.attention_failed += answer != trial.attention_target
            return {"sufficiency": str(sufficiency), "answer": str(answer)}
        positions = form.choices("choice")  # "left", "middle", ... (SIDE_BY_SIDE_SLOTS), in page order
        shown = [getattr(trial, position) for position in positions]
        picked = self.answers.choice(rng, [s.variant for s in shown], [s.method for s in shown])
        self.tally.choices += 1
        return {"choice": positions[picked], "justification": self.answers.justification(rng)}

    def fill_task(self, form, trial, rng):
        """A task page's answers: each question right with the chance of the participant's condition
        (AnswerModel.task_answer); an attention check's as instructed, but for the failure rate."""
        asked = form.names("radio")
        if not asked:
            return {}  # a learning page that asks no guess: Next
        options = list(trial.options)
        facts = {"model_prediction": trial.stimulus.target_class, "true_class": trial.stimulus.source_image.class_name}
        condition = trial.participant.task_condition  # assigned at consent
        condition = (condition.model, condition.method) if condition else None
        data = {name: str(self.answers.confidence(rng)) for name in asked if name.endswith("confidence")}
        if trial.kind == Trial.Kind.ATTENTION:
            answer = self.answers.attention(rng, trial.attention_target, range(1, len(options) + 1))
            self.tally.attention_checks += 1
            self.tally.attention_failed += answer != trial.attention_target
            data["answer"] = options[answer - 1]
        questions = {"answer": {DISTINCTION: PREDICTED, VERIFICATION: ACCEPT}.get(trial.block.kind, MODEL_OUTPUT),
                     "true_class": TRUE_CLASS}
        for name, question in questions.items():
            if name in asked and name not in data:
                right = scoring.right_answer(question, **facts)
                data[name] = self.answers.task_answer(rng, options, right, condition)
                if trial.kind != Trial.Kind.ATTENTION:
                    self.tally.task_answers += 1
                    self.tally.task_right += data[name] == right
        return data

    def get(self, client, url):
        return self.follow(client, client.get(url, secure=self.secure))

    def post(self, client, url, data, referer):
        response = client.post(url, data, secure=self.secure,
                               headers={"origin": self.origin, "referer": self.origin + referer})
        if response.status_code not in REDIRECTS:
            raise RehearsalError(f"POST {url} answered {response.status_code}, not a redirect: "
                                 f"{response.content.decode()[:2000]}")
        return self.follow(client, response)

    def follow(self, client, response):
        """Follow redirects within the site; None when the survey sends the participant elsewhere."""
        for _ in range(MAX_REDIRECTS):
            if response.status_code not in REDIRECTS:
                break
            target = urlsplit(response["Location"])
            if target.netloc and target.netloc != self.host:
                return None
            response = client.get(target.path + (f"?{target.query}" if target.query else ""), secure=self.secure)
        else:
            raise RehearsalError(f"More than {MAX_REDIRECTS} redirects in a row, the last to {response['Location']}.")
        if response.status_code != 200:
            raise RehearsalError(f"GET {response.request['PATH_INFO']} answered {response.status_code}.")
        return response


def check_images(images, path):
    """Every image of a page is embedded and is a PNG (the survey links to no image URL)."""
    for source in images:
        prefix, _, data = source.partition(",")
        try:
            png = base64.b64decode(data, validate=True) if prefix == "data:image/png;base64" else b""
        except binascii.Error:
            png = b""
        if not png.startswith(PNG_SIGNATURE):
            raise RehearsalError(f"Image {source[:60]} on {path} is not an embedded PNG.")
