//! A component dependency: exports `waypost:greeting/{greet,shout,region}` and
//! nothing else. `region` reads its environment, so the dependency imports
//! `wasi:cli/environment` and what it sees depends on `inherit_configuration`.

spin_sdk::wit_bindgen::generate!({
    runtime_path: "spin_sdk::wit_bindgen::rt",
    path: "../../../wit/deps/waypost-greeting@0.1.0",
    world: "waypost:greeting/greeter",
});

struct Greeter;
export!(Greeter);

impl exports::waypost::greeting::greet::Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

impl exports::waypost::greeting::shout::Guest for Greeter {
    fn greet(name: String) -> String {
        format!("HELLO, {}!", name.to_uppercase())
    }
}

impl exports::waypost::greeting::region::Guest for Greeter {
    fn hint() -> Option<String> {
        std::env::var("REGION_HINT").ok()
    }
}
