-- Installed package archives (the zip, whichever source it came from), so every node sharing
-- the store can read an installed package's templates.
CREATE TABLE package_archive (
    name    TEXT NOT NULL,
    version TEXT NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (name, version)
);
