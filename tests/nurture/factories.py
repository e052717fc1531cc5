from factory.declarations import Sequence as Counter
from factory.declarations import SubFactory
from factory.django import DjangoModelFactory

from nurture.models import Sequence, Step


class SequenceFactory(DjangoModelFactory[Sequence]):
    class Meta:
        model = Sequence

    key = Counter(lambda n: f"sequence-{n}")
    name = Counter(lambda n: f"Sequence {n}")
    exit_on_conversion = True
    exit_on_sales = True


class StepFactory(DjangoModelFactory[Step]):
    class Meta:
        model = Step

    sequence = SubFactory(SequenceFactory)
    position = Counter(lambda n: n + 1)
    subject_template = "Hello {{ lead.first_name }}"
    text_template = "Hi {{ lead.first_name }}, read https://toys.example/blog"
    html_template = (
        '<p>Hi {{ lead.first_name }}, read <a href="https://toys.example/blog?a=1&amp;b=2">the blog</a>'
        ' or <a href="mailto:shop@toys.example">write</a>.</p>'
    )
