import Foundation
import FuzzSupport
import PruneKit

// The search recipe reader (Search/Recipe.swift, YAML through Yams). Invariants: parsing either throws
// SearchError / CostError naming the recipe, or yields a recipe whose search-space values are positive,
// ascending and distinct (hidden and FFN sizes multiples of their snap), whose limits are in [0, 1), whose
// objective is among its metrics, whose cost model builds, and whose JSON form writes and parses back equal.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecipe(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    let path = (fuzzScratch as NSString).appendingPathComponent("recipe.yaml")
    let recipe: Recipe
    do { recipe = try Recipe(yaml: text, path: path) } catch {
        expectTyped(error, [SearchError.self, CostError.self], "Recipe(yaml:path:)")
        return 0
    }
    let s = recipe.space
    for (name, values, snap) in [("num_layers", s.numLayers, 1), ("hidden_size", s.hiddenSize, recipe.snapHidden),
                                 ("ffn_hidden_size", s.ffnHiddenSize, recipe.snapFFN), ("mamba_num_heads", s.mambaNumHeads, 1),
                                 ("mamba_head_dim", s.mambaHeadDim, 1), ("num_attention_heads", s.numAttentionHeads, 1)] {
        guard let values else { continue }
        invariant(!values.isEmpty, "\(name) has no values")
        invariant(values.allSatisfy { $0 > 0 && $0 % snap == 0 }, "\(name) has a value that is not a positive multiple of \(snap)")
        invariant(zip(values, values.dropFirst()).allSatisfy { $0 < $1 }, "\(name) values not ascending and distinct")
    }
    invariant(recipe.maxWidthPruning >= 0 && recipe.maxWidthPruning < 1 && recipe.maxDepthPruning >= 0 && recipe.maxDepthPruning < 1, "limits")
    invariant(recipe.topK > 0 && recipe.context > 0 && recipe.batch > 0, "top_k / budget")
    invariant(recipe.metrics.contains(recipe.objective), "objective not among the metrics")
    do { _ = try recipe.costModel() } catch { expectTyped(error, [CostError.self], "Recipe.costModel") }
    let echo = recipe.echo
    do {
        let back = try PruneKitJSON.decode(Recipe.Echo.self, from: try PruneKitJSON.data(echo))
        invariant(back == echo, "recipe JSON round trip changed the value")
    } catch {
        invariant(false, "the recipe's JSON does not round-trip: \(error)")
    }
    return 0
}

@_cdecl("FuzzRecipe_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzRecipe(data, size) }
}
