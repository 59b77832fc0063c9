"""The survey's forms. Field names are stable: scripts play participants through them.

consent: agree, consent_version (or decline)    background: degree, cv_experience_years
rating: trial, sufficiency, trust      attention: trial, sufficiency, answer      choice: trial, choice, justification
(choice: left, middle, right or fourth, the chosen map's place: Map 1 to Map 4)
task pages (issue 29): trial, answer (one of the page's options, as shown), confidence (1-5); a distinction page that
asks for the true class also true_class, true_class_confidence; a learning page asks only answer (its guess), or
nothing; an attention check in a task block has its block's fields, `answer` the instructed option
(each trial form also has the optional hidden page_hides, filled in by script)

`trial` is the current trial's opaque token (Trial.token); the view checks it against the server's
idea of the current trial before a form is even validated.
"""

from django import forms

from .models import JUSTIFICATION_MAX_LENGTH, LIKERT_MAX, LIKERT_MIN, Trial
from .schema import (
    CONFIDENCE_LABELS, CONFIDENCE_LEVELS, DISTINCTION, LEARN, SIDE_BY_SIDE_SLOTS, SIMULATION, VERIFICATION,
    VERIFICATION_OPTIONS,
)

DEGREES = [
    ("none", "No degree"),
    ("secondary", "Secondary school"),
    ("bachelor", "Bachelor's degree"),
    ("master", "Master's degree"),
    ("doctorate", "Doctorate (PhD)"),
    ("other", "Other"),
]
CV_EXPERIENCE_MAX_YEARS = 60
MAP_COUNT_WORDS = {2: "two", 3: "three", 4: "four"}


class ConsentForm(forms.Form):
    """Agreement to one consent version: the page's hidden `consent_version` must still be the study's current one."""

    agree = forms.BooleanField(
        label="I have read the information above and agree to take part.",
        error_messages={"required": "To take part, tick the box to say you agree; otherwise press \"I do not want "
                                    "to take part\"."},
    )
    consent_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, version, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version

    def clean_consent_version(self):
        if self.cleaned_data["consent_version"] != self.version.number:
            raise forms.ValidationError("The consent text changed while you were reading it. Please read the text "
                                        "above, then agree again if you still want to take part.")
        return self.version


class InstructionsForm(forms.Form):
    """No fields: the instructions page's Continue button."""


class BackgroundForm(forms.Form):
    degree = forms.ChoiceField(
        label="Highest degree you hold", choices=[("", "Choose one")] + DEGREES,
        error_messages={"required": "Choose your highest degree from the list.",
                        "invalid_choice": "Choose your highest degree from the list."},
    )
    cv_experience_years = forms.IntegerField(
        label="Years of experience with computer vision", min_value=0, max_value=CV_EXPERIENCE_MAX_YEARS,
        error_messages={
            "required": "Enter your years of computer-vision experience as a whole number (0 if none).",
            "invalid": "Enter your years of computer-vision experience as a whole number, e.g. 0 or 3.",
            "min_value": "Years of experience cannot be negative; enter 0 if you have none.",
            "max_value": f"Enter a number of years from 0 to {CV_EXPERIENCE_MAX_YEARS}.",
        },
    )


def likert_field(statement, labels):
    """A required 1-5 radio question; its choices show the study's labels."""
    message = f"Choose one answer from {LIKERT_MIN} ({labels[0]}) to {LIKERT_MAX} ({labels[-1]}) for: {statement}"
    return forms.TypedChoiceField(
        label=statement, coerce=int, widget=forms.RadioSelect,
        choices=[(value, f"{value} – {label}") for value, label in zip(range(LIKERT_MIN, LIKERT_MAX + 1), labels)],
        error_messages={"required": message, "invalid_choice": message},
    )


PAGE_HIDES_MAX = 100000


class TrialForm(forms.Form):
    trial = forms.CharField(widget=forms.HiddenInput)
    # Filled in by the page's script (static/studyapp/visibility.js): how often the page was hidden. Without
    # script it stays empty, and the stored count is empty too (not 0).
    page_hides = forms.IntegerField(
        widget=forms.HiddenInput, required=False, min_value=0, max_value=PAGE_HIDES_MAX,
        error_messages={key: "The page sent a broken count of how often it was hidden; nothing was saved. "
                             "Please answer the page again." for key in ("invalid", "min_value", "max_value")})


class RatingForm(TrialForm):
    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sufficiency"] = likert_field(study.sufficiency_statement, study.likert_labels)
        self.fields["trust"] = likert_field(study.trust_statement, study.likert_labels)


class AttentionForm(TrialForm):
    """Looks like a rating: the first statement, then the instruction where the second statement would be.

    The first statement's answer is validated like a rating's (so the page behaves like one) and not stored.
    """

    def __init__(self, *args, study, instruction, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sufficiency"] = likert_field(study.sufficiency_statement, study.likert_labels)
        self.fields["answer"] = likert_field(instruction, study.likert_labels)


class ChoiceForm(TrialForm):
    """The side-by-side page's choice among its `maps` maps (2 to 4): `choice` is the chosen map's slot
    (schema.SIDE_BY_SIDE_SLOTS: left, middle, right, fourth), shown as Map 1, Map 2, ..."""

    justification = forms.CharField(
        label="Why did you choose this map?", widget=forms.Textarea(attrs={"rows": 4}),
        max_length=JUSTIFICATION_MAX_LENGTH,
        error_messages={
            "required": "Write a short justification for your choice; it cannot be empty.",
            "max_length": f"Keep the justification to at most {JUSTIFICATION_MAX_LENGTH} characters "
                          "(it has %(show_value)d).",
        },
    )
    field_order = ["trial", "page_hides", "choice", "justification"]

    def __init__(self, *args, maps, **kwargs):
        super().__init__(*args, **kwargs)
        labels = [f"Map {number}" for number in range(1, maps + 1)]
        message = (f"Choose one of the {MAP_COUNT_WORDS[maps]} maps ({', '.join(labels[:-1])} or {labels[-1]}).")
        self.fields["choice"] = forms.ChoiceField(
            label="Which saliency map makes the model's prediction most comprehensible?",
            choices=list(zip(SIDE_BY_SIDE_SLOTS, labels)), widget=forms.RadioSelect,
            error_messages={"required": message, "invalid_choice": message})
        self.order_fields(self.field_order)


# A task page's questions (issue 29), their confidence questions, and the labels of the verification options.
TASK_QUESTIONS = {DISTINCTION: "Which class does the model predict?", SIMULATION: "What will the model say?",
                  VERIFICATION: "Do you accept or reject the AI's label?"}
TRUE_CLASS_QUESTION = "Which class is correct?"
CONFIDENCE_QUESTIONS = {DISTINCTION: "How confident are you of the model's prediction you chose?",
                        SIMULATION: "How confident are you of what the model will say?",
                        VERIFICATION: "How confident are you of your decision?"}
TRUE_CLASS_CONFIDENCE_QUESTION = "How confident are you of the correct class you chose?"
VERIFICATION_LABELS = dict(zip(VERIFICATION_OPTIONS, ("Accept", "Reject")))


def option_label(option):
    """How a task page shows an option: a class name as it is, accept/reject capitalised."""
    return VERIFICATION_LABELS.get(option, option)


def option_field(question, options):
    """A required choice among a task page's options, in the order shown."""
    labels = [option_label(option) for option in options]
    message = f"Choose one of {', '.join(labels[:-1])} or {labels[-1]} for: {question}"
    return forms.ChoiceField(label=question, choices=list(zip(options, labels)), widget=forms.RadioSelect,
                             error_messages={"required": message, "invalid_choice": message})


def confidence_field(question):
    message = (f"Choose how confident you are, from {CONFIDENCE_LEVELS[0]} ({CONFIDENCE_LABELS[0]}) to "
               f"{CONFIDENCE_LEVELS[-1]} ({CONFIDENCE_LABELS[-1]}), for: {question}")
    return forms.TypedChoiceField(
        label=question, coerce=int, widget=forms.RadioSelect,
        choices=[(level, f"{level} – {label}") for level, label in zip(CONFIDENCE_LEVELS, CONFIDENCE_LABELS)],
        error_messages={"required": message, "invalid_choice": message})


class TaskForm(TrialForm):
    """A task page's questions: its block's question among the page's options (Trial.options, in the order shown)
    with a confidence, and a distinction block's true-class question where it asks it. A learning page asks only for
    a guess where its block asks one, else nothing (Next). An attention check in a task block looks like the block's
    page, the instruction in place of its question: its cleaned `answer` is the chosen option's 1-based place (what
    Trial.attention_target names); its other answers are validated and not stored."""

    def __init__(self, *args, trial, block, instruction="", **kwargs):
        super().__init__(*args, **kwargs)
        self.options, self.is_check = list(trial.options), bool(instruction)
        if not self.options:
            return
        self.fields["answer"] = option_field(instruction or TASK_QUESTIONS[block.kind], self.options)
        if trial.phase == LEARN:
            return
        self.fields["confidence"] = confidence_field(CONFIDENCE_QUESTIONS[block.kind])
        if block.kind == DISTINCTION and block.ask_true_class:
            self.fields["true_class"] = option_field(TRUE_CLASS_QUESTION, self.options)
            self.fields["true_class_confidence"] = confidence_field(TRUE_CLASS_CONFIDENCE_QUESTION)

    def clean_answer(self):
        answer = self.cleaned_data["answer"]
        return self.options.index(answer) + 1 if self.is_check else answer


def attention_instruction(study, target):
    return f"To show you are reading, select '{study.likert_labels[target - 1]}' for this item."


def task_instruction(option):
    return f"To show you are reading, select '{option_label(option)}' for this question."


def trial_form(trial, study, data=None):
    """The form of a trial page, for its kind; `data` is the POST to validate, or None to show it."""
    if trial.in_task_block:
        instruction = (task_instruction(trial.options[trial.attention_target - 1])
                       if trial.kind == Trial.Kind.ATTENTION else "")
        return TaskForm(data, trial=trial, block=trial.block, instruction=instruction, initial={"trial": trial.token})
    if trial.kind == Trial.Kind.RATING:
        return RatingForm(data, study=study, initial={"trial": trial.token})
    if trial.kind == Trial.Kind.ATTENTION:
        return AttentionForm(data, study=study, instruction=attention_instruction(study, trial.attention_target),
                             initial={"trial": trial.token})
    return ChoiceForm(data, maps=len(trial.map_ids), initial={"trial": trial.token})
