"""The dispatch of classify's and deploy's verdicts: a reader for each migration operation."""


class Readers(dict):
    """The reader of each operation, keyed by the operation as the database sees it ("AddField").

    A reader enters itself with `@readers.of("RenameField", "RenameModel")`, so the operations
    it reads stand above it, each written once in its module. An operation has one reader:
    entering a second is a mistake, and refused when the module is imported.
    """

    def of(self, *kinds: str):
        def enter(reader):
            for kind in kinds:
                if kind in self:
                    raise ValueError(f"{kind} is read by {self[kind].__name__} already")
                self[kind] = reader
            return reader

        return enter
