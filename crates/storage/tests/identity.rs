//! A data directory knows whose it is (real files in temporary directories): the
//! cluster and node recorded in its IDENTITY file, and an empty directory refused
//! unless the cluster is being bootstrapped.

use storage::identity::{claim, Start};
use storage::StorageError;

const OURS: &str = "00112233445566778899aabbccddeeff";

#[test]
fn a_data_directory_knows_whose_it_is() {
    let dir = tempfile::tempdir().expect("temporary directory");
    claim(dir.path(), OURS, 2, Start::Bootstrap, false).expect("a new directory is claimed");
    claim(dir.path(), OURS, 2, Start::Rejoin, true).expect("its owner may use it again");
    // Another node of the cluster, or the same id of another cluster, is refused with
    // both identities named.
    let err = claim(dir.path(), OURS, 3, Start::Rejoin, true).expect_err("another node");
    assert!(
        err.to_string().contains("node 2") && err.to_string().contains("node 3"),
        "{err}"
    );
    let other = "ffeeddccbbaa99887766554433221100";
    assert!(matches!(
        claim(dir.path(), other, 2, Start::Rejoin, true),
        Err(StorageError::ForeignDirectory { .. })
    ));
}

#[test]
fn an_empty_directory_is_refused_unless_the_cluster_is_bootstrapped() {
    // The defect: a node whose directory was deleted restarted as a blank node, free to
    // vote again in terms it had voted in. Now it is refused, with the way out named.
    let dir = tempfile::tempdir().expect("temporary directory");
    let err = claim(dir.path(), OURS, 2, Start::Rejoin, false).expect_err("empty");
    assert!(matches!(err, StorageError::EmptyDirectory { node: 2, .. }));
    let text = err.to_string();
    assert!(
        text.contains("--bootstrap") && text.contains("A node that lost its data"),
        "{text}"
    );
    assert!(
        !dir.path().join(storage::identity::IDENTITY_FILE).exists(),
        "a refused directory is not claimed"
    );
    // Records without an identity predate identity files: the directory is claimed.
    claim(dir.path(), OURS, 2, Start::Rejoin, true).expect("an older directory with records");
    claim(dir.path(), OURS, 2, Start::Rejoin, false).expect("known, even with no records yet");
}
