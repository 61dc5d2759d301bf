"""Reading a page the test client got as parsed HTML: its elements by tag, attribute and id, their
text, and the messages Django shows on it."""

from django.test.html import Element, parse_html


def page_of(response) -> Element:
    assert response.status_code == 200
    return parse_html(response.content.decode())


def elements(root: Element, tag: str | None = None, **attributes: str) -> list[Element]:
    """Every element under `root` (itself included) with this tag and these attributes."""
    found = []
    if (tag is None or root.name == tag) and all(
        (key, value) in root.attributes for key, value in attributes.items()
    ):
        found.append(root)
    for child in root.children:
        if isinstance(child, Element):
            found += elements(child, tag, **attributes)
    return found


def by_id(root: Element, element_id: str) -> Element:
    [element] = elements(root, id=element_id)
    return element


def text(element: Element) -> str:
    return " ".join(
        child if isinstance(child, str) else text(child) for child in element.children
    ).replace(" ,", ",")


def operations(element: Element) -> set[str]:
    """The operations the submit buttons under `element` post."""
    buttons = elements(element, "button", name="operation")
    return {dict(button.attributes)["value"] for button in buttons}


def messages_on(response) -> str:
    [messagelist] = elements(page_of(response), "ul", **{"class": "messagelist"})
    return " ".join(text(item) for item in elements(messagelist, "li"))
