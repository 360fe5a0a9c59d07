import Foundation
import HydraCodeDone

exit(await CLI.main(CommandLine.arguments))
