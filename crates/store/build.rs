// embed_migrations! does not notice new migration folders by itself.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
