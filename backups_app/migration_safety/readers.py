"""The dispatch of classify's and deploy's verdicts: a reader for each migration operation."""


class Readers(dict):
    """The reader of each operation, keyed by the operation as the database sees it ("AddField").

    A reader enters itself with `@readers.of("RenameField", "RenameModel")`, so the operations
    it reads stand above it, each written once in its module.
    """

    def of(self, *kinds: str):
        def enter(reader):
            for kind in kinds:
                self[kind] = reader
            return reader

        return enter
