//! The `[training]` table's algorithm and the defaults each algorithm gives
//! the keys a file leaves unset.

use super::tests::parse;

#[test]
fn the_algorithm_goes_by_its_name() {
    let e = parse("[training]\nalgorithm = \"svdpp\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("algorithm")
            && e.contains("unknown variant `svdpp`, expected `svd` or `bayes_svdpp`"),
        "{e}"
    );
    let c = parse("[training]\nalgorithm = \"bayes_svdpp\"\nn_epochs = 8\nburn_in = 2\n").unwrap();
    assert_eq!(
        c.training.params.algorithm,
        crate::numeric::Algorithm::BayesSvdpp
    );
}

#[test]
fn unset_parameters_take_the_defaults_of_the_chosen_algorithm() {
    use crate::numeric::{Algorithm, ParamOverrides, Params};
    let (svd, bayes) = (
        Params::defaults_for(Algorithm::Svd),
        Params::defaults_for(Algorithm::BayesSvdpp),
    );
    let t = |text: &str| parse(text).unwrap().training;
    let to = |algorithm| ParamOverrides {
        algorithm: Some(algorithm),
        ..ParamOverrides::default()
    };
    // No algorithm named: the default one, with its own defaults.
    assert_eq!(Algorithm::DEFAULT, Algorithm::BayesSvdpp);
    assert_eq!(t("").params, bayes);
    assert_eq!(t("[training]\nseed = 1\n").params, bayes);
    assert_eq!(crate::config::Training::default().params, bayes);
    let s = t("[training]\nalgorithm = \"svd\"\n");
    assert_eq!(s.params, svd);
    assert_eq!(s.params_with(&ParamOverrides::default()).unwrap(), svd);
    assert_eq!(s.params_with(&to(Algorithm::BayesSvdpp)).unwrap(), bayes);
    assert_eq!(t("").params_with(&to(Algorithm::Svd)).unwrap(), svd);
    // A key the file sets holds whichever algorithm runs.
    let rank = t("[training]\nalgorithm = \"bayes_svdpp\"\nn_factors = 32\nseed = 9\n");
    let want = Params {
        n_factors: 32,
        seed: 9,
        ..bayes.clone()
    };
    assert_eq!(rank.params, want);
    let from_svd = t("[training]\nalgorithm = \"svd\"\nn_factors = 32\nseed = 9\n");
    assert_eq!(
        from_svd.params_with(&to(Algorithm::BayesSvdpp)).unwrap(),
        want
    );
    // And a flag over both.
    let flags = ParamOverrides {
        factors: Some(8),
        ..to(Algorithm::BayesSvdpp)
    };
    assert_eq!(
        from_svd.params_with(&flags).unwrap(),
        Params {
            n_factors: 8,
            ..want
        }
    );
}
