"""Help text like its peers': no `<bool>` after a flag, `KEY=VALUE...` style names for repeatable
options instead of `<list[str]>`, set once for every command instead of in each declaration; no
text cut with '…' at any width; and, for commands whose options default to a config's fields,
those defaults shown."""

from __future__ import annotations

import importlib

import typer.core


def never_cut() -> None:
    """Make typer's help tables wrap (option names after each comma) or fold a cell wider than its
    column instead of cutting it with '…': rich tables cut by default, which hid
    `--judge-api-key-env` at 120 columns and URLs in option help at 80."""
    import typer.rich_utils
    from rich.columns import Columns
    from rich.table import Table
    from rich.text import Text

    if getattr(typer.rich_utils.Table, "never_cuts", False):
        return

    def names(cell) -> bool:
        return isinstance(cell, Text) and cell.plain.startswith("-") and " " not in cell.plain

    def breakable(cell):
        if names(cell) and "," in cell.plain:
            return Text("\n").join(cell.split(",", include_separator=True))  # --a,--b: one name a line
        if isinstance(cell, Columns):  # an option's help: its texts sit in a grid of their own
            for item in cell.renderables:
                if isinstance(item, Text) and item.overflow is None:
                    item.overflow = "fold"
        return cell

    class WrappingTable(Table):
        never_cuts = True

        def add_column(self, *args, **kwargs) -> None:
            kwargs.setdefault("overflow", "fold")
            super().add_column(*args, **kwargs)

        def add_row(self, *renderables, **kwargs) -> None:
            while len(self.columns) < len(renderables):
                self.add_column()
            cells = list(renderables)
            if len(cells) in (6, 7):  # typer's option rows: [required], names, short, --no- names, --no- short, type, help
                first = len(cells) - 6
                if names(cells[first]) and names(cells[first + 2]):  # --cot / --no-cot in one column, not two
                    cells[first] = Text.assemble(cells[first], " / ", cells[first + 2])
                    cells[first + 2] = Text("")
            super().add_row(*map(breakable, cells), **kwargs)

    typer.rich_utils.Table = WrappingTable


def defaults_from(config: str) -> type[typer.core.TyperCommand]:
    """A command class whose help shows, beside each option declared with None (so that a config file
    can supply it), the default of the same-named field of `config` ('module:Class', a pydantic
    model, imported only when help is shown): the numbers live in one place and cannot drift."""

    class ConfigDefaults(typer.core.TyperCommand):
        def format_help(self, ctx, formatter) -> None:
            module, name = config.split(":")
            fields = getattr(importlib.import_module(module), name).model_fields
            shown = []
            for param in self.params:
                field = fields.get(param.name or "")
                if isinstance(param, typer.core.TyperOption) and param.default is None and field is not None \
                        and not field.is_required() and field.default is not None:
                    shown.append((param, param.show_default))
                    param.default, param.show_default = field.default, True
            try:
                super().format_help(ctx, formatter)
            finally:
                for param, show in shown:  # parsing still sees None: "not given", the config file may set it
                    param.default, param.show_default = None, show

    return ConfigDefaults


def tidy(command) -> None:
    """Give `command` and every command under it readable option names (click's `metavar`)."""
    if not getattr(command, "_tidy", False):
        command._tidy = True
        make_help = command.get_help_option

        def get_help_option(ctx):  # --help is made at render time, outside `params`
            option = make_help(ctx)
            if option is not None:
                option.metavar = ""
            return option

        command.get_help_option = get_help_option
        format_help = command.format_help

        def format_help_never_cut(ctx, formatter):
            never_cut()
            return format_help(ctx, formatter)

        command.format_help = format_help_never_cut
    for param in getattr(command, "params", []):
        if isinstance(param, typer.core.TyperArgument) and param.nargs != 1:
            label = param.display_type(None).strip("<>").removeprefix("list[").removesuffix("]")
            param.display_type_rich = lambda ctx, label=label: f"<{label}>..."  # not <list[Path]>
            continue
        if not isinstance(param, typer.core.TyperOption) or param.metavar is not None:
            continue
        if param.is_flag or param.is_bool_flag:
            param.metavar = ""  # a flag takes no value
        elif param.multiple:
            param.metavar = "TEXT..." if not param.name or param.name not in ("set_", "option", "force") \
                else {"set_": "KEY=VALUE...", "option": "KEY=VALUE...", "force": "STAGE..."}[param.name]
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)


class TidyGroup(typer.core.TyperGroup):
    """The root group: tidies its own and its subcommands' options before help is shown."""

    def get_params(self, ctx):
        tidy(self)
        return super().get_params(ctx)

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            tidy(command)
        return command
