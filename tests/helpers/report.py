"""Reading analyze's report.html back in tests: its tables by title, and p-values as the report writes them."""

from html.parser import HTMLParser


class HtmlTables(HTMLParser):
    """The report's tables by their h3 title: each a list of rows of cell texts (header row first)."""

    def __init__(self):
        super().__init__()
        self.tables, self.title, self.cell, self.row, self.in_h3 = {}, "", None, None, False

    def handle_starttag(self, tag, attrs):
        if tag == "h3":
            self.in_h3, self.title = True, ""
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "h3":
            self.in_h3 = False
        elif tag in ("td", "th"):
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr":
            self.tables.setdefault(self.title, []).append(self.row)

    def handle_data(self, data):
        if self.in_h3:
            self.title += data
        elif self.cell is not None:
            self.cell += data


def html_tables(path):
    parser = HtmlTables()
    parser.feed(path.read_text(encoding="utf-8"))
    return {title: rows[1:] for title, rows in parser.tables.items()}


def p_text(p, alpha=0.05):
    return ("n/a" if p is None else f"{p:.2E}" + (" *" if p < alpha else ""))
